"""A small, faithful fake of the Vonigo REST API for offline tests and demos.

It implements the contract described in ``include/bi_pipelines/sources/vonigo/README.md``: the ``/api/v1/`` endpoints
(login with an MD5 password, logout, franchise switch, franchises, ``system/objects/``, generic
``data/<Object>/`` lists and retrieves), Vonigo's quirks (HTTP 200 for JSON errors, HTML for
unknown paths, trailing slash required, case-insensitive paths and keys, ``Job``/``Case`` list
keys, Leads under ``Clients``, dates ignored without ``dateMode``, Cases ignoring ``pageNo``,
mixed ``isActive`` types, naive-local work-order dates) and fault switches for tests.

Values marked [ASSUMED] in the contract are constructor arguments (TTL, page sizes, error codes).

Control endpoints (outside ``/api/v1``)::

    POST /__fake__/reset                      tokens, faults, calls and toggles back to the start
    POST /__fake__/fail_next {count, mode, path?, skip?}
         mode: 522_html | timeout | garbage | truncated | validation | expire | html_404
    POST /__fake__/edit_between_pages {path, after_page, move?}
         move: out (edited out of the window) | end (edited to the end of the sort order)
    POST /__fake__/expire_tokens              every session is gone (-421 on next use)
    POST /__fake__/config {toggle: value}     e.g. {"omit_empty_key": true}
    GET  /__fake__/calls                      the request log

Run it by hand (a demo)::

    python -m devtools.vonigo_fake --port 8765 [--fixtures fixtures.json]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import json
import re
import secrets
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

FAKE_USER = "api.user"
FAKE_PASSWORD = "Fake-Pa55word!"
# 2025-01-09T18:00:00Z: the "now" the default fixtures are built around.
REFERENCE_EPOCH = 1736445600

# Object path (lower case) -> (storage key, list key, singular key).
DATA_OBJECTS = {
    "clients": ("Clients", "Clients", "Client"),
    "accounts": ("Clients", "Clients", "Client"),
    "leads": ("Clients", "Clients", "Client"),
    "contacts": ("Contacts", "Contacts", "Contact"),
    "locations": ("Locations", "Locations", "Location"),
    "jobs": ("Jobs", "Job", "Job"),
    "workorders": ("WorkOrders", "WorkOrders", "WorkOrder"),
    "invoices": ("Invoices", "Invoices", None),
    "payments": ("Payments", "Payments", None),
    "charges": ("Charges", "Charges", None),
    "quotes": ("Quotes", "Quotes", "Quote"),
    "cases": ("Cases", "Case", "Case"),
    "emails": ("Emails", "Emails", None),
}
LIST_METHODS = ("", "0", "-1")
DATE_ATTRIBUTES = {"1": "dateCreated", "2": "dateLastEdited", "3": "dateService"}
RELATION_FILTERS = {"clientid": "client", "jobid": "job", "workorderid": "workorder"}
FAULT_MODES = ("522_html", "timeout", "garbage", "truncated", "validation", "expire", "html_404")
PAGE_EDIT_MOVES = ("out", "end")
MD5_HEX = re.compile(r"^[0-9a-f]{32}$")

HTML_404 = (
    "<!DOCTYPE html><html><head><title>404 - File or directory not found.</title></head>"
    "<body><h2>404 - File or directory not found.</h2></body></html>"
)
HTML_522 = (
    "<!DOCTYPE html><html><head><title>vonigo.com | 522: Connection timed out</title></head>"
    "<body><h1>Error 522</h1><p>Connection timed out</p><p>Cloudflare</p></body></html>"
)
HTML_1010 = "<!DOCTYPE html><html><body>error code: 1010</body></html>"


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


# -- fixtures -------------------------------------------------------------------------------------
def _naive_local(zone: str, days: int, hour: int, reference: int) -> str:
    """A franchise wall-clock time encoded as if it were UTC, as Vonigo's work orders do."""
    local_day = dt.datetime.fromtimestamp(reference, ZoneInfo(zone)).date() + dt.timedelta(days=days)
    wall = dt.datetime.combine(local_day, dt.time(hour))
    return str(int((wall - dt.datetime(1970, 1, 1)).total_seconds()))


def _field(field_id: int, value: Any, option_id: int = 0) -> dict:
    return {"fieldID": field_id, "fieldValue": str(value), "optionID": option_id}


def _relation(type_id: int, object_id: Any, name: str, relation_type: str, active: Any = "true") -> dict:
    return {
        "objectTypeID": type_id,
        "objectID": int(object_id),
        "name": name,
        "relationType": relation_type,
        "isActive": active,
    }


_ACTIVE = ("true", True, "false", "true", False, "True")


def default_fixtures(reference: int = REFERENCE_EPOCH) -> dict[str, Any]:
    """Deterministic fixtures: franchises 90 (North, New York) and 91 (West, Los Angeles) with
    clients, contacts, locations, jobs, work orders, quotes, invoices and cases; 92 is inactive.

    Most records were edited in the three hours before ``reference``; a few are older so window
    filters are visible. Work-order service dates run from five days before to seventeen days
    after ``reference`` (one, twenty days before), as naive-local epochs.
    """
    hour, day = 3600, 86400
    franchises = [
        {
            "franchiseID": 90,
            "franchiseName": "North",
            "gmtOffsetFranchise": -300,
            "sequence": 1,
            "optionID": 0,
            "isActive": "true",
            "_zone": "America/New_York",
            "_fields": [_field(9, "north@example.com"), _field(18, "5551230090")],
        },
        {
            "franchiseID": 91,
            "franchiseName": "West",
            "gmtOffsetFranchise": -480,
            "sequence": 2,
            "optionID": 0,
            "isActive": True,
            "_zone": "America/Los_Angeles",
            "_fields": [_field(9, "west@example.com"), _field(18, "5551230091")],
        },
        {
            "franchiseID": 92,
            "franchiseName": "Closed East",
            "gmtOffsetFranchise": -300,
            "sequence": 3,
            "optionID": 0,
            "isActive": "false",
            "_zone": "America/New_York",
            "_fields": [],
        },
    ]
    objects: dict[str, list[dict]] = {key: [] for key, _, _ in DATA_OBJECTS.values()}
    sizes = {90: (12, 23, 10, 7), 91: (7, 9, 4, 3)}
    for f in franchises[:2]:
        fid, zone = f["franchiseID"], f["_zone"]
        n_clients, n_workorders, n_invoices, n_cases = sizes[fid]
        base = fid * 1000
        for i in range(1, n_clients + 1):
            client_id = 700000 + base + i
            edited = reference - (20 * day if i % 5 == 0 else i * 600)
            name = f"Client {fid}-{i:02d}"
            stage = ("Lead", 70) if i % 4 == 0 else ("Account", 71)
            kind = ("Residential", 59) if i % 3 else ("Commercial", 60)
            common = {
                "_franchiseID": fid,
                "dateCreated": str(reference - (40 - i) * day),
                "dateLastEdited": str(edited),
                "isActive": _ACTIVE[i % len(_ACTIVE)],
            }
            objects["Clients"].append(
                {
                    "objectID": str(client_id),
                    "name": name,
                    **common,
                    "countContacts": "1",
                    "countLocations": "1",
                    "countJobs": "1",
                    "Fields": [
                        _field(121, kind[0], kind[1]),
                        _field(123, stage[0], stage[1]),
                        _field(126, name),
                        _field(238, f"client{fid}{i}@example.com"),
                    ],
                    "Relations": [_relation(8, 800000 + base + i, name, "contact", _ACTIVE[(i + 1) % 5])],
                }
            )
            objects["Contacts"].append(
                {
                    "objectID": str(800000 + base + i),
                    "name": name,
                    **common,
                    "Fields": [
                        _field(127, "First"),
                        _field(128, f"Last{i}"),
                        _field(97, f"c{fid}{i}@example.com"),
                    ],
                    "Relations": [_relation(7, client_id, name, "client")],
                }
            )
            objects["Locations"].append(
                {
                    "objectID": str(200000 + base + i),
                    "name": f"{i} Main St",
                    **common,
                    "Fields": [
                        _field(773, f"{i} Main St"),
                        _field(775, f"1{fid}{i:02d}"),
                        _field(776, "Springfield"),
                    ],
                    "Relations": [_relation(7, client_id, name, "client")],
                }
            )
        for i in range(1, n_clients + 1):
            job_id = 500000 + base + i
            client_id = 700000 + base + i
            objects["Jobs"].append(
                {
                    "objectID": str(job_id),
                    "name": str(job_id),
                    "_franchiseID": fid,
                    "dateCreated": str(reference - 10 * day),
                    "dateLastEdited": str(reference - i * 700),
                    "isActive": _ACTIVE[(i + 2) % len(_ACTIVE)],
                    "countWorkOrders": "2",
                    "Fields": [_field(982, "Junk removal", 301), _field(984, "Open", 401)],
                    "Relations": [_relation(7, client_id, f"Client {fid}-{i:02d}", "client")],
                }
            )
        statuses = [("Open", 160), ("Booked", 161), ("Cancelled", 162), ("Completed", 164)]
        for i in range(1, n_workorders + 1):
            client_no = (i - 1) % n_clients + 1
            offset = -20 if i % 10 == 9 else i - 6
            service = _naive_local(zone, offset, 8 + (i % 5) * 2, reference)
            status = statuses[i % len(statuses)]
            price = 100 + i * 12.5
            # A visit twenty days back was last touched when it was closed, the day after it.
            edited = reference - 19 * day - i * 300 if offset == -20 else reference - i * 300
            objects["WorkOrders"].append(
                {
                    "objectID": str(900000 + base + i),
                    "name": f"Client {fid}-{client_no:02d}",
                    "_franchiseID": fid,
                    "dateCreated": str(reference - 22 * day if offset == -20 else reference - 12 * day),
                    "dateLastEdited": str(edited),
                    "dateService": service,
                    "isActive": _ACTIVE[i % len(_ACTIVE)],
                    "countCharges": "2",
                    "Fields": [
                        _field(181, status[0], status[1]),
                        _field(185, service),
                        _field(186, 120),
                        _field(813, f"{price:.2f}"),
                        _field(809, "-$5.00" if i % 3 == 0 else "0.00"),
                        _field(9835, f"${price * 1.085 * 10:,.2f}"),
                    ],
                    "Relations": [
                        _relation(10, 500000 + base + client_no, str(500000 + base + client_no), "job", True),
                        _relation(7, 700000 + base + client_no, f"Client {fid}-{client_no:02d}", "client"),
                        _relation(5, 3000 + fid, f"Route {fid}", "route", "false" if i % 7 == 0 else "true"),
                    ],
                }
            )
        for i in range(1, 5):
            service = _naive_local(zone, 3 + i * 4, 10, reference)
            objects["Quotes"].append(
                {
                    "objectID": str(310000 + base + i),
                    "name": f"Quote {fid}-{i}",
                    "_franchiseID": fid,
                    "dateCreated": str(reference - 2 * day),
                    "dateLastEdited": str(reference - i * 900),
                    "dateService": service,
                    "isActive": _ACTIVE[i % len(_ACTIVE)],
                    "countDocuments": "1",
                    "Fields": [_field(909, f"Quote notes {i}")],
                    "Relations": [_relation(7, 700000 + base + i, f"Client {fid}-{i:02d}", "client")],
                }
            )
        for i in range(1, n_invoices + 1):
            issued = reference - i * 3 * hour
            subtotal = 1000 + i * 12.5
            objects["Invoices"].append(
                {
                    "objectID": str(130000 + base + i),
                    "name": f"INV-{fid}-{i:03d}",
                    "_franchiseID": fid,
                    "dateCreated": str(issued),
                    "dateIssued": str(issued),
                    "dateLastEdited": str(issued + 60),
                    "isActive": _ACTIVE[i % len(_ACTIVE)],
                    "Fields": [
                        _field(949, f"${subtotal:,.2f}"),
                        _field(947, f"{subtotal + 20:.4f}"),
                        _field(709, "-50.0000" if i % 4 == 0 else f"{subtotal * 0.05:.2f}"),
                    ],
                    "Relations": [_relation(12, 900000 + base + i, str(900000 + base + i), "workorder")],
                }
            )
        for i in range(1, n_cases + 1):
            objects["Cases"].append(
                {
                    "objectID": str(190000 + base + i),
                    "name": f"Case {fid}-{i}",
                    "_franchiseID": fid,
                    "dateCreated": str(reference - i * day),
                    "dateLastEdited": str(reference - i * hour),
                    "isActive": _ACTIVE[i % len(_ACTIVE)],
                    "Fields": [_field(219, "Open", 501), _field(220, f"Summary {i}")],
                    "Relations": [_relation(7, 700000 + base + i, f"Client {fid}-{i:02d}", "client")],
                }
            )

    def fields(*specs: tuple) -> list[dict]:
        return [
            {
                "fieldID": fid,
                "field": name,
                "fieldType": kind,
                "fieldMode": "RW",
                "fieldBlock": "General",
                "isFieldRequired": fid in (126, 181),
            }
            for fid, name, kind in specs
        ]

    def options(type_id: int, field_id: int, *pairs: tuple) -> list[dict]:
        return [
            {"optionID": oid, "name": name, "fieldID": field_id, "objectTypeID": type_id, "isActive": "true"}
            for oid, name in pairs
        ]

    types = {
        "1": {
            "Fields": fields((9, "Email", "tagInput"), (18, "Phone", "tagPhone"), (1001, "Cell", "tagPhone")),
            "Options": [],
        },
        "7": {
            "Fields": fields(
                (121, "Client Type", "tagSelect"),
                (122, "Status", "tagSelect"),
                (123, "Stage", "tagSelect"),
                (126, "Name", "tagInput"),
                (238, "Email", "tagInput"),
            ),
            "Options": options(7, 121, (59, "Residential"), (60, "Commercial"))
            + options(7, 123, (70, "Lead"), (71, "Account")),
        },
        "8": {
            "Fields": fields(
                (127, "First Name", "tagInput"),
                (128, "Last Name", "tagInput"),
                (97, "Email", "tagInput"),
                (96, "Phone", "tagPhone"),
            ),
            "Options": [],
        },
        "10": {
            "Fields": fields((982, "Service Type", "tagSelect"), (984, "Status", "tagSelect")),
            "Options": options(10, 982, (301, "Junk removal")) + options(10, 984, (401, "Open")),
        },
        "12": {
            "Fields": fields(
                (181, "Status", "tagSelect"),
                (185, "Service Date", "tagDate"),
                (186, "Duration", "tagInput"),
                (809, "Discount", "tagInput"),
                (813, "Price", "tagInput"),
                (8700, "Completed At", "tagDate"),
                (9835, "Total", "tagInput"),
            ),
            "Options": options(
                12,
                181,
                (160, "Open"),
                (161, "Booked"),
                (162, "Cancelled"),
                (163, "In Progress"),
                (164, "Completed"),
                (165, "Archived"),
            ),
        },
        "13": {
            "Fields": fields(
                (709, "Tax", "tagInput"),
                (947, "Price Before Discount", "tagInput"),
                (949, "Subtotal", "tagInput"),
            ),
            "Options": [],
        },
        "19": {
            "Fields": fields((219, "Status", "tagSelect"), (220, "Summary", "tagInput")),
            "Options": options(19, 219, (501, "Open")),
        },
        "20": {
            "Fields": fields(
                (773, "Address", "tagInput"), (775, "Zip", "tagInput"), (776, "City", "tagInput")
            ),
            "Options": [],
        },
        "31": {
            "Fields": fields((909, "Notes", "tagInput"), (914, "Internal Notes", "tagInput")),
            "Options": [],
        },
    }
    names = {
        1: "Franchise",
        7: "Client",
        8: "Contact",
        10: "Job",
        12: "Work Order",
        13: "Invoice",
        19: "Case",
        20: "Location",
        31: "Quote",
        5: "Route",
    }
    return {
        "users": {
            FAKE_USER: {
                "md5": md5_hex(FAKE_PASSWORD),
                "userID": "1001",
                "firstName": "Api",
                "lastName": "User",
                "homeFranchiseID": 90,
            },
        },
        "franchises": franchises,
        "objects": objects,
        "system": {
            "Objects": [
                {"objectTypeID": k, "name": v, "isHasFields": str(k) in types}
                for k, v in sorted(names.items())
            ],
            "types": types,
        },
    }


# -- the server -----------------------------------------------------------------------------------
class VonigoFake:
    """The fake's state and behaviour; :meth:`start` serves it on ``127.0.0.1:<port>``.

    Args:
        fixtures: Users, franchises, objects and system metadata (default: :func:`default_fixtures`).
        token_ttl: Idle lifetime of a session in seconds [ASSUMED 1800].
        max_sessions_per_user: Oldest session dropped beyond this many (default unlimited).
        strict_trailing_slash: A path without its trailing slash gets the HTML 404 page.
        require_user_agent: An empty User-Agent gets Cloudflare's 403 "error code: 1010".
        omit_empty_key: Past the last page, omit the list key instead of an empty list.
        cases_ignore_pageno: ``data/Cases/`` always answers page 1.
        default_page_size / max_page_size: Paging without ``pageSize`` [ASSUMED 50] and its cap.
        timeout_seconds: How long the ``timeout`` fault stalls before answering.
    """

    def __init__(
        self,
        fixtures: dict[str, Any] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token_ttl: float = 1800,
        max_sessions_per_user: int | None = None,
        strict_trailing_slash: bool = True,
        require_user_agent: bool = False,
        omit_empty_key: bool = False,
        cases_ignore_pageno: bool = True,
        default_page_size: int = 50,
        max_page_size: int = 1000,
        timeout_seconds: float = 3.0,
    ):
        self._initial_fixtures = copy.deepcopy(fixtures if fixtures is not None else default_fixtures())
        self._initial_toggles = {
            "token_ttl": token_ttl,
            "max_sessions_per_user": max_sessions_per_user,
            "strict_trailing_slash": strict_trailing_slash,
            "require_user_agent": require_user_agent,
            "omit_empty_key": omit_empty_key,
            "cases_ignore_pageno": cases_ignore_pageno,
            "default_page_size": default_page_size,
            "max_page_size": max_page_size,
            "timeout_seconds": timeout_seconds,
        }
        self.host, self.port = host, port
        self.lock = threading.RLock()
        self.clock = time.time
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset(fixtures=True)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> VonigoFake:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="vonigo-fake", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> VonigoFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/api/v1/"

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- control ---------------------------------------------------------------------------------
    def reset(self, fixtures: bool = False) -> None:
        """Drop sessions, faults, the call log and toggle changes (and, if asked, data changes)."""
        with self.lock:
            if fixtures or not hasattr(self, "data"):
                self.data = copy.deepcopy(self._initial_fixtures)
            self.toggles = dict(self._initial_toggles)
            self.tokens: dict[str, dict] = {}
            self.faults: list[dict] = []
            self.call_log: list[dict] = []
            self.writes: list[dict] = []
            self.page_edits: list[dict] = []
            self.issued_tokens: list[str] = []

    def fail_next(
        self, count: int = 1, mode: str = "522_html", path: str | None = None, skip: int = 0
    ) -> None:
        """Make the next ``count`` API requests (whose route contains ``path``, after ``skip``) fail."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; one of {', '.join(FAULT_MODES)}")
        with self.lock:
            self.faults.append(
                {
                    "count": int(count),
                    "mode": mode,
                    "path": (path or "").strip("/").lower(),
                    "skip": int(skip),
                }
            )

    def edit_between_pages(self, path: str, after_page: int = 1, move: str = "out") -> None:
        """Edit a record of the next list on ``path`` between its page ``after_page`` and the next.

        When page ``after_page + 1`` is asked for, the first record of the listing (one the client
        has already read) is edited: ``out`` moves it out of the requested date window (its date
        for the request's ``dateMode`` becomes ``dateEnd``), ``end`` moves it to the end of the
        edited-date order (``dateLastEdited`` becomes the latest in the window). Either way every
        later record shifts one place towards the front, which offset paging does not see.
        """
        if move not in PAGE_EDIT_MOVES:
            raise ValueError(f"unknown move {move!r}; one of {', '.join(PAGE_EDIT_MOVES)}")
        with self.lock:
            self.page_edits.append(
                {"path": path.strip("/").lower(), "after_page": int(after_page), "move": move, "edited": None}
            )

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def configure(self, **toggles: Any) -> None:
        unknown = set(toggles) - set(self._initial_toggles)
        if unknown:
            raise ValueError(f"unknown toggle(s) {sorted(unknown)}")
        with self.lock:
            self.toggles.update(toggles)

    def calls(self, route: str | None = None) -> list[dict]:
        """The request log, optionally only calls whose route starts with ``route`` (lower case)."""
        with self.lock:
            log = list(self.call_log)
        if route:
            prefix = route.strip("/").lower()
            log = [c for c in log if c["route"].startswith(prefix)]
        return log

    def records(self, storage: str) -> list[dict]:
        """The live fixture records of one object (tests edit them to simulate changes)."""
        return self.data["objects"][storage]

    # -- request handling --------------------------------------------------------------------------
    def handle(self, request: _Handler) -> None:
        split = urlsplit(request.path)
        path = split.path
        if path.startswith("/__fake__/"):
            self._control(request, path[len("/__fake__/") :].strip("/"))
            return
        params, original = _read_params(request, split.query)
        route = path[len("/api/v1/") :].strip("/").lower() if path.lower().startswith("/api/v1/") else ""
        call = {
            "seq": 0,
            "http_method": request.command,
            "path": path,
            "route": route,
            "params": original,
            "user_agent": request.headers.get("User-Agent", ""),
            "content_type": request.headers.get("Content-Type", ""),
            "status": None,
            "errNo": None,
            "fault": None,
        }
        with self.lock:
            call["seq"] = len(self.call_log) + 1
            self.call_log.append(call)
            toggles = dict(self.toggles)
        if toggles["require_user_agent"] and not call["user_agent"].strip():
            self._reply_html(request, call, 403, HTML_1010)
            return
        if not route or (toggles["strict_trailing_slash"] and not path.endswith("/")):
            self._reply_html(request, call, 404, HTML_404)
            return
        fault = self._take_fault(route)
        if fault:
            call["fault"] = fault
            if fault == "522_html":
                self._reply_html(request, call, 522, HTML_522)
                return
            if fault == "html_404":
                self._reply_html(request, call, 404, HTML_404)
                return
            if fault == "garbage":
                self._reply(
                    request, call, 200, b'{"company":"Vonigo","errNo":0,"WorkOrders":[{"objectID":"9', "json"
                )
                return
            if fault == "truncated":
                # The real answer cut short, as a dropped connection leaves it: the envelope's
                # securityToken is within its first characters.
                try:
                    whole = json.dumps(self._route(route, params)).encode("utf-8")
                except _NotFound:
                    whole = HTML_404.encode("utf-8")
                self._reply(request, call, 200, whole[: max(1, len(whole) // 2)], "json")
                return
            if fault == "timeout":
                time.sleep(toggles["timeout_seconds"])
            if fault == "expire":
                self.expire_tokens()
            if fault == "validation":
                self._reply_json(
                    request, call, self._validation(None, -602, "Field data is in incorrect format.")
                )
                return
        try:
            body = self._route(route, params)
        except _NotFound:
            self._reply_html(request, call, 404, HTML_404)
            return
        self._reply_json(request, call, body)

    def _take_fault(self, route: str) -> str | None:
        with self.lock:
            for fault in self.faults:
                if fault["count"] <= 0 or (fault["path"] and fault["path"] not in route):
                    continue
                if fault["skip"] > 0:
                    fault["skip"] -= 1
                    return None
                fault["count"] -= 1
                return fault["mode"]
        return None

    def _route(self, route: str, p: dict[str, Any]) -> dict:
        if route == "security/login":
            return self._login(p)
        if route == "security/logout":
            return self._logout(p)
        session = self._session(p)
        if session is None:
            return self._envelope(None, errNo=-421, errMsg="Session expired. ")
        token = p.get("securitytoken")
        if route == "security/session":
            return self._switch(token, session, p)
        if route in ("resources/franchises", "security/franchises"):
            return self._franchises(token, p)
        if route == "system/objects":
            return self._system(token, p)
        parts = route.split("/")
        if len(parts) == 2 and parts[0] == "data" and parts[1] in DATA_OBJECTS:
            return self._data(token, session, parts[1], p)
        raise _NotFound

    # -- envelope ----------------------------------------------------------------------------------
    def _envelope(self, token: str | None, **body: Any) -> dict:
        out = {
            "company": "Vonigo",
            "securityToken": token or "",
            "errNo": 0,
            "errMsg": "",
            "dateNow": str(int(self.clock())),
        }
        out.update(body)
        return out

    def _validation(self, token: str | None, sub_errno: int, message: str) -> dict:
        return self._envelope(
            token,
            errNo=-600,
            errMsg="Data validation failed.",
            Errors=[{"fieldID": 0, "fieldName": None, "errNo": sub_errno, "errMsg": message}],
        )

    # -- security ----------------------------------------------------------------------------------
    def _login(self, p: dict) -> dict:
        name = str(p.get("username") or "")
        password = str(p.get("password") or "")
        users = {k.lower(): v for k, v in self.data["users"].items()}
        user = users.get(name.lower())
        # A password that is not 32 hex characters is a client that forgot to hash.
        if user is None or not MD5_HEX.match(password) or password != user["md5"]:
            return self._envelope(None, errNo=-402, errMsg="Invalid user name or password.")
        token = secrets.token_hex(5).upper()
        now = self.clock()
        with self.lock:
            self.issued_tokens.append(token)
            limit = self.toggles["max_sessions_per_user"]
            # dicts keep insertion order: the first of mine is the oldest session.
            mine = [k for k, t in self.tokens.items() if t["userName"] == name.lower()]
            while limit and len(mine) >= limit:
                self.tokens.pop(mine.pop(0), None)
            self.tokens[token] = {
                "userName": name.lower(),
                "franchiseID": str(user["homeFranchiseID"]),
                "createdAt": now,
                "lastUsedAt": now,
            }
        home = self._franchise(user["homeFranchiseID"]) or {}
        return self._envelope(
            token,
            Session={
                "companyID": "1",
                "franchiseID": str(user["homeFranchiseID"]),
                "franchiseName": home.get("franchiseName", ""),
                "officeID": "1",
                "routeID": "0",
                "userID": user["userID"],
                "firstName": user["firstName"],
                "lastName": user["lastName"],
                "gmtOffsetFranchise": str(home.get("gmtOffsetFranchise", 0)),
                "gmtOffsetUser": str(home.get("gmtOffsetFranchise", 0)),
            },
            securityGroups=[{"groupID": 1, "name": "System Administrator", "isSelected": True}],
        )

    def _logout(self, p: dict) -> dict:
        token = p.get("securitytoken")
        if self._session(p) is None:
            return self._envelope(None, errNo=-421, errMsg="Session expired. ")
        with self.lock:
            self.tokens.pop(token, None)
        return self._envelope(token, errMsg="Logged out.")

    def _session(self, p: dict) -> dict | None:
        token = p.get("securitytoken")
        now = self.clock()
        with self.lock:
            session = self.tokens.get(token) if token else None
            if session is None:
                return None
            if now - session["lastUsedAt"] > self.toggles["token_ttl"]:
                self.tokens.pop(token, None)
                return None
            session["lastUsedAt"] = now
            return session

    def _franchise(self, franchise_id: Any) -> dict | None:
        for f in self.data["franchises"]:
            if str(f["franchiseID"]) == str(franchise_id):
                return f
        return None

    def _switch(self, token: str, session: dict, p: dict) -> dict:
        wanted = str(p.get("franchiseid") or "")
        if self._franchise(wanted) is None:
            return self._validation(token, -5212, "Franchise does not exist.")  # [ASSUMED] code
        if wanted == session["franchiseID"]:
            return self._validation(token, -5213, "Same franchise ID supplied.")
        with self.lock:
            session["franchiseID"] = wanted
        return self._envelope(token, errMsg="Franchise changed successfully.")

    def _franchises(self, token: str, p: dict) -> dict:
        if str(p.get("method", "")) == "1":
            franchise = self._franchise(p.get("objectid"))
            if franchise is None:
                return self._validation(token, -5212, "Franchise does not exist.")
            return self._envelope(
                token,
                Franchise={"objectID": str(franchise["franchiseID"])},
                Fields=copy.deepcopy(franchise.get("_fields", [])),
            )
        items = [_public(f) for f in self.data["franchises"]]
        return self._page(token, "Franchises", items, p)

    def _system(self, token: str, p: dict) -> dict:
        system = self.data["system"]
        if str(p.get("method", "")) in ("1", "2"):
            if p.get("fieldid") not in (None, ""):
                field_id = str(p["fieldid"])
                options = [
                    o for t in system["types"].values() for o in t["Options"] if str(o["fieldID"]) == field_id
                ]
                if not options:
                    return self._envelope(token, errNo=-501, errMsg="Field has no options.")
                return self._envelope(token, Options=copy.deepcopy(options))
            definition = system["types"].get(str(p.get("objectid")))
            if definition is None:
                return self._validation(token, -5010, "Object type does not exist.")  # [ASSUMED] code
            return self._envelope(token, **copy.deepcopy(definition))
        return self._envelope(token, Objects=copy.deepcopy(system["Objects"]))

    # -- data ----------------------------------------------------------------------------------------
    def _data(self, token: str, session: dict, name: str, p: dict) -> dict:
        storage, list_key, singular = DATA_OBJECTS[name]
        method = str(p.get("method", "")).strip()
        if method == "1":
            return self._retrieve(token, name, storage, singular, p)
        if method not in LIST_METHODS:
            with self.lock:
                self.writes.append({"object": name, "method": method, "params": dict(p)})
            return self._validation(token, -9999, "The fake Vonigo is read-only.")
        franchise_id = str(p.get("franchiseid") or session["franchiseID"])
        with self.lock:
            records = [
                r for r in self.data["objects"].get(storage, []) if str(r.get("_franchiseID")) == franchise_id
            ]
        if name == "leads":
            records = [r for r in records if _field_value(r, 123) == "Lead"]
        for param, relation_type in RELATION_FILTERS.items():
            if p.get(param) not in (None, ""):
                wanted = str(p[param])
                records = [
                    r
                    for r in records
                    if any(
                        str(x.get("relationType", "")).lower() == relation_type
                        and str(x.get("objectID")) == wanted
                        for x in r.get("Relations", [])
                    )
                ]
        if p.get("objectid") not in (None, ""):
            records = [r for r in records if str(r["objectID"]) == str(p["objectid"])]
        if p.get("searchpar") not in (None, ""):
            needle = str(p["searchpar"]).lower()
            records = [r for r in records if needle in str(r.get("name", "")).lower()]
        # Vonigo applies dateStart/dateEnd only when dateMode is given; otherwise it ignores them.
        mode = str(p.get("datemode", "")).strip()
        if mode in DATE_ATTRIBUTES:
            attribute = "dateIssued" if (storage == "Invoices" and mode == "1") else DATE_ATTRIBUTES[mode]
            start, end = _number(p.get("datestart")), _number(p.get("dateend"))
            records = [r for r in records if _in_range(_number(r.get(attribute)), start, end)]
        records = _sorted(records, str(p.get("sortmode", "")), str(p.get("sortdirection", "0")))
        edited = self._edit_between_pages(name, records, p)
        if edited:
            return self._data(token, session, name, p)
        complete = str(p.get("iscompleteobject", "")).lower() == "true"
        items = []
        for r in records:
            item = _public(r)
            if not complete:
                item.pop("Fields", None)
                item.pop("Relations", None)
            items.append(item)
        if storage == "Cases" and self.toggles["cases_ignore_pageno"]:
            p = {**p, "pageno": "1"}
        return self._page(token, list_key, items, p)

    def _edit_between_pages(self, name: str, records: list[dict], p: dict) -> bool:
        """Apply a pending :meth:`edit_between_pages` to the live record; True when one was applied."""
        page_no = int(_number(p.get("pageno")) or 1)
        with self.lock:
            for edit in self.page_edits:
                if edit["edited"] is not None or edit["path"] != f"data/{name}" or not records:
                    continue
                if page_no != edit["after_page"] + 1:
                    continue
                record = records[0]
                mode = str(p.get("datemode", "")).strip()
                end = _number(p.get("dateend"))
                latest = max((_number(r.get("dateLastEdited")) or 0) for r in records)
                if edit["move"] == "out" and mode in DATE_ATTRIBUTES and end is not None:
                    record[DATE_ATTRIBUTES[mode]] = str(int(end))
                    record["dateLastEdited"] = str(int(max(latest + 1, end if mode == "2" else latest + 1)))
                else:
                    stamp = latest + 1 if end is None else min(latest + 1, end - 1)
                    record["dateLastEdited"] = str(int(stamp))
                record["name"] = f"{record.get('name')} (edited)"
                edit["edited"] = str(record["objectID"])
                return True
        return False

    def _retrieve(self, token: str, name: str, storage: str, singular: str | None, p: dict) -> dict:
        if singular is None:
            # Mirrors what a live tenant answered for method=1 on Invoices.
            return self._validation(token, -7001, "Retrieval is not supported for this object.")  # [ASSUMED]
        wanted = str(p.get("objectid") or "")
        with self.lock:
            found = next(
                (r for r in self.data["objects"].get(storage, []) if str(r["objectID"]) == wanted), None
            )
        if found is None:
            return self._validation(token, -7601, "Object does not exist.")  # [ASSUMED] code
        item = _public(found)
        fields, relations = item.pop("Fields", []), item.pop("Relations", [])
        return self._envelope(token, **{singular: item}, Fields=fields, Relations=relations)

    def _page(self, token: str, key: str, items: list[dict], p: dict) -> dict:
        size = int(_number(p.get("pagesize")) or self.toggles["default_page_size"])
        size = max(1, min(size, self.toggles["max_page_size"]))
        page_no = max(1, int(_number(p.get("pageno")) or 1))
        page = items[(page_no - 1) * size : page_no * size]
        if not page and self.toggles["omit_empty_key"]:
            return self._envelope(token)
        return self._envelope(token, **{key: page})

    # -- responses -----------------------------------------------------------------------------------
    def _reply_json(self, request: _Handler, call: dict, body: dict) -> None:
        call["errNo"] = body.get("errNo")
        self._reply(request, call, 200, json.dumps(body).encode("utf-8"), "json")

    def _reply_html(self, request: _Handler, call: dict, status: int, html: str) -> None:
        self._reply(request, call, status, html.encode("utf-8"), "html")

    def _reply(self, request: _Handler, call: dict, status: int, payload: bytes, kind: str) -> None:
        call["status"] = status
        content_type = "application/json; charset=utf-8" if kind == "json" else "text/html; charset=utf-8"
        try:
            request.send_response(status)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(payload)))
            request.end_headers()
            request.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout fault)

    def _control(self, request: _Handler, action: str) -> None:
        body = _json_body(request)
        result: Any = {"ok": True}
        try:
            if action == "reset":
                self.reset(fixtures=bool(body.get("fixtures", False)))
            elif action == "fail_next":
                self.fail_next(
                    body.get("count", 1), body.get("mode", "522_html"), body.get("path"), body.get("skip", 0)
                )
            elif action == "edit_between_pages":
                self.edit_between_pages(
                    body.get("path", ""), body.get("after_page", 1), body.get("move", "out")
                )
            elif action == "expire_tokens":
                self.expire_tokens()
            elif action == "config":
                self.configure(**body)
            elif action == "calls":
                result = {
                    "calls": self.calls(
                        body.get("route") or _first(parse_qs(urlsplit(request.path).query), "route")
                    )
                }
            else:
                raise ValueError(f"unknown control action {action!r}")
        except (TypeError, ValueError) as exc:
            payload = json.dumps({"ok": False, "error": str(exc)}).encode()
            self._reply(request, {"status": None}, 400, payload, "json")
            return
        self._reply(request, {"status": None}, 200, json.dumps(result, default=str).encode(), "json")


class _NotFound(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    fake: VonigoFake
    protocol_version = "HTTP/1.1"
    server_version = "cloudflare"
    sys_version = ""

    def do_GET(self) -> None:
        self.fake.handle(self)

    def do_POST(self) -> None:
        self.fake.handle(self)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the call log instead
        pass


# -- helpers -----------------------------------------------------------------------------------------
def _first(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[-1] if values else None


def _json_body(request: _Handler) -> dict:
    length = int(request.headers.get("Content-Length") or 0)
    raw = request.rfile.read(length) if length else b""
    request._raw_body = raw  # type: ignore[attr-defined]
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _read_params(request: _Handler, query: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Query string, then form or JSON body (body wins); keys matched case-insensitively."""
    original: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    length = int(request.headers.get("Content-Length") or 0)
    raw = request.rfile.read(length) if length else b""
    content_type = request.headers.get("Content-Type", "").lower()
    if raw and "json" in content_type:
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        if isinstance(body, dict):
            original.update(body)
    elif raw and "form" in content_type:
        original.update({k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()})
    params = {k.lower(): v for k, v in original.items()}
    if "app_version" in params:
        params.setdefault("appversion", params.pop("app_version"))
    return params, original


def _public(record: dict) -> dict:
    """A copy without the fake's own bookkeeping keys (``_franchiseID``, ``_zone`` ...)."""
    return {k: copy.deepcopy(v) for k, v in record.items() if not k.startswith("_")}


def _field_value(record: dict, field_id: int) -> str | None:
    for f in record.get("Fields", []):
        if str(f.get("fieldID")) == str(field_id):
            return f.get("fieldValue")
    return None


def _number(value: Any) -> float | None:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return None


def _in_range(value: float | None, start: float | None, end: float | None) -> bool:
    # [ASSUMED] inclusive start, exclusive end.
    if value is None:
        return False
    if start is not None and value < start:
        return False
    return end is None or value < end


def _sorted(records: list[dict], mode: str, direction: str) -> list[dict]:
    """sortMode 3 = last edited, 1 = created [ASSUMED], else objectID; sortDirection 1 = descending."""
    attribute = {"3": "dateLastEdited", "1": "dateCreated"}.get(mode)

    def key(r: dict) -> tuple:
        oid = str(r.get("objectID", ""))
        by_id = (0, int(oid), "") if oid.isdigit() else (1, 0, oid)
        return ((_number(r.get(attribute)) or 0) if attribute else 0, *by_id)

    return sorted(records, key=key, reverse=direction == "1")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Vonigo API on a local port.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--fixtures", type=Path, help="JSON fixtures (default: the built-in ones)")
    parser.add_argument(
        "--dump-fixtures", type=Path, help="write the built-in fixtures to this file and exit"
    )
    parser.add_argument("--token-ttl", type=float, default=1800)
    parser.add_argument("--require-user-agent", action="store_true")
    parser.add_argument("--omit-empty-key", action="store_true")
    args = parser.parse_args(argv)
    if args.dump_fixtures:
        args.dump_fixtures.write_text(json.dumps(default_fixtures(), indent=1), encoding="utf-8")
        print(f"wrote {args.dump_fixtures}")
        return
    fixtures = json.loads(args.fixtures.read_text(encoding="utf-8")) if args.fixtures else None
    fake = VonigoFake(
        fixtures,
        host=args.host,
        port=args.port,
        token_ttl=args.token_ttl,
        require_user_agent=args.require_user_agent,
        omit_empty_key=args.omit_empty_key,
    ).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    users = ", ".join(fake.data["users"])
    print(f"Vonigo fake on {fake.base_url} (users: {users}; control: {fake.root_url}/__fake__/)", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
