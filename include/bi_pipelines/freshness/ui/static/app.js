// The Freshness page: lists every monitored table, shows one table's lag history as an SVG
// chart, and records acknowledgements. Data only ever reaches the page through textContent.
"use strict";

const STATUSES = ["pass", "warn", "error", "runtime_error", "no_data", "not_checked"];
const COLOURS = { pass: "#2e7d32", warn: "#ed8c00", error: "#c62828", runtime_error: "#6a1b9a",
  no_data: "#757575", not_checked: "#b0b0b0" };
const state = { data: null, lagDescending: true, selected: null, days: 7, zone: null };
const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  // Relative to the page (…/freshness/): the session cookie of the Airflow UI goes along.
  const response = await fetch(path, { credentials: "same-origin", ...options,
    headers: { Accept: "application/json", ...(options.headers || {}) } });
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const detail = body && body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : response.statusText;
    throw new Error(`${response.status}: ${detail}`);
  }
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function pill(status) { return el("span", { class: `pill ${status}`, text: status.replace("_", " ") }); }

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.abs(Number(seconds));
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

function utc(iso) { return iso ? iso.replace("T", " ").replace(/(\.\d+)?(\+00:00|Z)$/, " UTC") : "–"; }

function local(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleString("en-CA", { timeZone: state.zone, year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false, timeZoneName: "short" });
}

function threshold(row) {
  if (row.threshold_mode === "learned") {
    const parts = [`learned: warn ${duration(row.warn_after_seconds)}, error ${duration(row.error_after_seconds)}`];
    if (row.expected_next_update) parts.push(`next expected ${local(row.expected_next_update)}`);
    if (row.learned_samples) parts.push(`${row.learned_samples} gaps`);
    return parts.join("; ");
  }
  const base = `warn ${duration(row.warn_after_seconds)} / error ${duration(row.error_after_seconds)}`;
  return row.threshold_mode === "learning" ? `${base} (learning)` : base;
}

// `until` is the first instant no longer acknowledged: a midnight is shown as the day before, inclusive.
function untilText(iso) {
  const t = new Date(iso);
  if (t.getUTCHours() || t.getUTCMinutes() || t.getUTCSeconds()) return `until ${utc(iso)}`;
  return `through ${new Date(t.getTime() - 86400e3).toISOString().slice(0, 10)} (UTC)`;
}

function ackText(ack) {
  if (!ack) return "";
  return `${ack.reason} — ${untilText(ack.until)} (${ack.acknowledged_by}${ack.source === "yaml" ? ", YAML" : ""})`;
}

function filtered() {
  const status = $("f-status").value, server = $("f-server").value;
  const search = $("f-search").value.trim().toLowerCase();
  const rows = state.data.tables.filter((t) => (!status || t.status === status)
    && (!server || (t.server_host || t.source_conn_id) === server)
    && (!search || [t.table_key, t.server_host, t.source_conn_id, t.error_message, t.qualified_table]
      .some((v) => v && String(v).toLowerCase().includes(search))));
  const lag = (t) => (t.lag_seconds === null || t.lag_seconds === undefined ? -1 : Number(t.lag_seconds));
  rows.sort((a, b) => (state.lagDescending ? lag(b) - lag(a) : lag(a) - lag(b)) || a.table_key.localeCompare(b.table_key));
  return rows;
}

function renderTables() {
  const body = $("tables").querySelector("tbody");
  body.replaceChildren();
  for (const t of filtered()) {
    const tr = el("tr", { class: "row", "data-key": t.table_key, "data-status": t.status },
      el("td", {}, pill(t.status)),
      el("td", { text: t.table_key }),
      el("td", { text: t.server_host || t.source_conn_id || "–" }),
      el("td", { text: utc(t.last_update) }),
      el("td", { text: local(t.last_update) }),
      el("td", { class: "lag", text: duration(t.lag_seconds) }),
      el("td", { text: threshold(t) }),
      el("td", { text: t.checked_at ? `${utc(t.checked_at)}` : "never" }),
      el("td", { class: "ack", text: ackText(t.acknowledged) }));
    if (state.selected === t.table_key) tr.classList.add("selected");
    if (t.error_message) tr.title = t.error_message;
    tr.addEventListener("click", () => openDetail(t.table_key));
    body.append(tr);
  }
  const counts = {};
  for (const t of state.data.tables) counts[t.status] = (counts[t.status] || 0) + 1;
  $("summary").textContent = `${state.data.tables.length} tables: ` + STATUSES.filter((s) => counts[s])
    .map((s) => `${counts[s]} ${s.replace("_", " ")}`).join(", ") + ` · signed in as ${state.data.user}`;
  $("sort-lag").textContent = state.lagDescending ? "Lag ▼" : "Lag ▲";
}

function fillSelect(select, values) {
  const current = select.value;
  select.replaceChildren(el("option", { value: "", text: "all" }), ...values.map((v) => el("option", { value: v, text: v })));
  select.value = values.includes(current) ? current : "";
}

async function load() {
  try {
    state.data = await api("api/tables");
    $("error").hidden = true;
  } catch (e) {
    $("error").textContent = `Could not load the tables (${e.message}).`;
    $("error").hidden = false;
    return;
  }
  if (!state.zone) {
    state.zone = state.data.timezone;
    const browser = Intl.DateTimeFormat().resolvedOptions().timeZone;
    const zones = [...new Set([state.data.timezone, browser, "UTC"])];
    $("f-zone").replaceChildren(...zones.map((z) => el("option", { value: z,
      text: z === state.data.timezone ? `${z} (team)` : z === browser ? `${z} (browser)` : z })));
  }
  fillSelect($("f-status"), STATUSES.filter((s) => state.data.tables.some((t) => t.status === s)));
  fillSelect($("f-server"), [...new Set(state.data.tables.map((t) => t.server_host || t.source_conn_id).filter(Boolean))].sort());
  renderTables();
  if (state.selected) await openDetail(state.selected);
}

function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function drawChart(detail, table) {
  const box = $("chart");
  box.replaceChildren();
  const points = detail.rows.filter((r) => r.lag_seconds !== null && r.lag_seconds !== undefined);
  const W = 1000, H = 260, L = 60, R = 20, T = 16, B = 30;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `Lag of ${table.table_key}` });
  const now = Date.parse(state.data.now), t0 = now - detail.days * 86400e3;
  const maxLag = Math.max(1, ...points.map((p) => Number(p.lag_seconds)),
    ...(table.error_after_seconds ? [table.error_after_seconds * 1.1] : []));
  const x = (iso) => L + ((Date.parse(iso) - t0) / (now - t0)) * (W - L - R);
  const y = (s) => H - B - (Number(s) / maxLag) * (H - T - B);
  chart.append(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999" }));
  chart.append(svg("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#999" }));
  for (const f of [0, 0.5, 1]) {
    const label = svg("text", { x: L - 6, y: y(maxLag * f) + 4, "text-anchor": "end", "font-size": 11, fill: "#555" });
    label.textContent = duration(maxLag * f);
    chart.append(label);
  }
  for (const f of [0, 0.5, 1]) {
    const label = svg("text", { x: L + f * (W - L - R), y: H - 10, "text-anchor": f === 0 ? "start" : f === 1 ? "end" : "middle", "font-size": 11, fill: "#555" });
    label.textContent = local(new Date(t0 + f * (now - t0)).toISOString());
    chart.append(label);
  }
  for (const [name, seconds] of [["warn", table.warn_after_seconds], ["error", table.error_after_seconds]]) {
    if (!seconds || seconds > maxLag) continue;
    chart.append(svg("line", { x1: L, x2: W - R, y1: y(seconds), y2: y(seconds), stroke: COLOURS[name], "stroke-dasharray": "6 4", class: `threshold ${name}` }));
  }
  for (const c of detail.changes) {
    const marker = svg("line", { x1: x(c.checked_at), x2: x(c.checked_at), y1: T, y2: H - B, stroke: COLOURS[c.to] || "#333", "stroke-width": 2, class: "change" });
    const title = svg("title", {});
    title.textContent = `${utc(c.checked_at)}: ${c.from} → ${c.to}`;
    marker.append(title);
    chart.append(marker);
  }
  if (points.length) {
    const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.checked_at).toFixed(1)},${y(p.lag_seconds).toFixed(1)}`).join(" ");
    chart.append(svg("path", { d, fill: "none", stroke: "#1565c0", "stroke-width": 1.5, class: "lag-line" }));
    for (const p of points) {
      const dot = svg("circle", { cx: x(p.checked_at).toFixed(1), cy: y(p.lag_seconds).toFixed(1), r: 3, fill: COLOURS[p.status] || "#333", class: "point" });
      const title = svg("title", {});
      title.textContent = `${utc(p.checked_at)}: ${p.status}, lag ${duration(p.lag_seconds)}`;
      dot.append(title);
      chart.append(dot);
    }
  } else {
    const empty = svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", fill: "#777" });
    empty.textContent = "No measured lag in this range";
    chart.append(empty);
  }
  box.append(chart);
}

async function openDetail(key) {
  state.selected = key;
  const table = state.data.tables.find((t) => t.table_key === key);
  $("detail").hidden = false;
  $("d-title").textContent = key;
  $("d-meta").textContent = `${table.status.replace("_", " ")} · ${table.origin} · ${table.error_message || ""}`;
  for (const tr of $("tables").querySelectorAll("tbody tr")) tr.classList.toggle("selected", tr.dataset.key === key);
  let detail;
  try {
    detail = await api(`api/history?table=${encodeURIComponent(key)}&days=${state.days}`);
  } catch (e) {
    $("d-meta").textContent = `Could not load the history (${e.message}).`;
    return;
  }
  const asset = $("d-asset");
  asset.replaceChildren();
  if (detail.asset) {
    asset.append("Writes the warehouse table ");
    asset.append(detail.asset.path
      ? el("a", { href: detail.asset.path, target: "_top", class: "asset-link", text: detail.asset.name })
      : el("span", { text: `${detail.asset.name} (no asset recorded yet)` }));
  }
  drawChart(detail, table);
  const ack = table.acknowledged;
  const ackBox = $("d-ack");
  ackBox.replaceChildren();
  if (ack) {
    ackBox.append(el("p", { class: "ack", text: `Acknowledged: ${ackText(ack)}` }));
    if (ack.source === "page" && state.data.can_acknowledge) {
      const button = el("button", { type: "button", id: "revoke", text: "Withdraw acknowledgement" });
      button.addEventListener("click", () => revoke(key));
      ackBox.append(button);
    }
    if (ack.source === "yaml") ackBox.append(el("p", { class: "muted", text: "Set in freshness.yaml: remove it there to end it." }));
  }
  $("ack-form").hidden = !state.data.can_acknowledge;
  if (!state.data.can_acknowledge) ackBox.append(el("p", { class: "muted", text: "Your role may not acknowledge tables." }));
  const rows = $("d-rows").querySelector("tbody");
  rows.replaceChildren(...detail.rows.slice(-50).reverse().map((r) => el("tr", {},
    el("td", { text: utc(r.checked_at) }), el("td", {}, pill(r.status)), el("td", { text: utc(r.last_update) }),
    el("td", { text: duration(r.lag_seconds) }),
    el("td", { text: `${duration(r.warn_after_seconds)} / ${duration(r.error_after_seconds)}` }),
    el("td", { text: r.threshold_mode || "fixed" }), el("td", { text: r.error_message || "" }))));
  $("d-acks").querySelector("tbody").replaceChildren(...detail.acknowledgements.map((a) => el("tr", {},
    el("td", { text: a.reason }), el("td", { text: utc(a.until) }), el("td", { text: a.acknowledged_by }),
    el("td", { text: utc(a.acknowledged_at) }), el("td", { text: a.revoked_by || "" }), el("td", { text: utc(a.revoked_at) === "–" ? "" : utc(a.revoked_at) }))));
}

async function acknowledge(event) {
  event.preventDefault();
  const message = $("ack-message");
  try {
    await api("api/acknowledgements", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ table_key: state.selected, reason: $("ack-reason").value, until: $("ack-until").value }) });
    message.textContent = "Acknowledged.";
    $("ack-reason").value = "";
    await load();
  } catch (e) {
    message.textContent = `Not saved: ${e.message}`;
  }
}

async function revoke(key) {
  try {
    await api("api/acknowledgements/revoke", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ table_key: key }) });
    $("ack-message").textContent = "Acknowledgement withdrawn.";
    await load();
  } catch (e) {
    $("ack-message").textContent = `Not withdrawn: ${e.message}`;
  }
}

function init() {
  for (const id of ["f-status", "f-server", "f-search"]) $(id).addEventListener("input", renderTables);
  $("f-zone").addEventListener("change", () => { state.zone = $("f-zone").value; renderTables(); if (state.selected) openDetail(state.selected); });
  $("sort-lag").addEventListener("click", () => { state.lagDescending = !state.lagDescending; renderTables(); });
  $("refresh").addEventListener("click", load);
  $("d-close").addEventListener("click", () => { state.selected = null; $("detail").hidden = true; renderTables(); });
  for (const b of document.querySelectorAll(".ranges button")) {
    b.addEventListener("click", () => {
      state.days = Number(b.dataset.days);
      for (const o of document.querySelectorAll(".ranges button")) o.classList.toggle("on", o === b);
      openDetail(state.selected);
    });
  }
  $("ack-form").addEventListener("submit", acknowledge);
  const tomorrow = new Date(Date.now() + 86400e3).toISOString().slice(0, 10);
  $("ack-until").value = tomorrow;
  $("ack-until").min = new Date().toISOString().slice(0, 10);
  load();
}

init();
