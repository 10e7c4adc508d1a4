"""Learned freshness thresholds against fixed ones, replayed over months of generated history.

Generates update instants for tables with four rhythms (local time, America/Vancouver):

* ``hourly``: every hour, a few minutes past;
* ``business``: hourly Monday to Friday 08h-18h only (silent at night and over the weekend);
* ``daily``: once a day around 06h;
* ``weekly``: Monday around 07h;

removes runs of consecutive updates (the injected outages), then replays the monitor every 15
minutes over the evaluation period: at each check the table's lag is judged with the monitor's
own functions (``learning.expect`` and ``sweep.evaluate``), once with learned thresholds (the
rhythm re-learnt every simulated day from the previous 90 days of updates, as the results table's
retention allows) and once with fixed ones (``warn_after`` = 2x the nominal period, what a
person would set; ``error_after`` = 4x).

Scoring, per table and mode: a *late episode* is a run of consecutive checks judged ``warn`` or
``error``. An outage's window runs from the last update before it to the first one after it.
Precision = late episodes overlapping an outage window / all late episodes; recall = outages
with at least one late check in their window / outages (those whose window lies in the
evaluation period); the delay is from the last update before the outage to the first late check.

Run with ``make bench-freshness-learning`` (or ``python bench/freshness_learning.py --help``).
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
for path in (REPO / "include",):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bi_pipelines.core.settings import FreshnessThresholds  # noqa: E402
from bi_pipelines.freshness.learning import expect, history_from_updates  # noqa: E402
from bi_pipelines.freshness.spec import ERROR, WARN, FreshnessCheck, LearningSettings  # noqa: E402
from bi_pipelines.freshness.sweep import evaluate  # noqa: E402

ZONE = "America/Vancouver"
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
CHECK_EVERY = dt.timedelta(minutes=15)
RELEARN_EVERY = dt.timedelta(days=1)  # 90 days of history change little in a day
RETENTION = dt.timedelta(days=90)
START = dt.datetime(2026, 1, 5, tzinfo=ZoneInfo(ZONE))  # a Monday


@dataclass(frozen=True)
class Rhythm:
    """A schedule: the local hours it runs at, the nominal period, how late a run finishes."""

    name: str
    period: dt.timedelta
    weekdays: tuple[int, ...]  # Monday = 0
    hours: tuple[int, ...]
    delay_minutes: tuple[int, int]  # a run finishes this many minutes after its hour
    outage_updates: tuple[int, int]  # an outage swallows this many consecutive updates
    outages: int  # outages injected over the whole history

    def scheduled(self, start: dt.datetime, end: dt.datetime, rng: random.Random) -> list[dt.datetime]:
        zone = ZoneInfo(ZONE)
        out = []
        day = start.astimezone(zone).date()
        while True:
            if day.weekday() in self.weekdays:
                for hour in self.hours:
                    local = dt.datetime.combine(day, dt.time(hour), zone)
                    instant = (local + dt.timedelta(minutes=rng.uniform(*self.delay_minutes))).astimezone(
                        dt.UTC
                    )
                    if instant >= end.astimezone(dt.UTC):
                        return out
                    out.append(instant)
            day += dt.timedelta(days=1)


WEEK = tuple(range(7))
RHYTHMS = (
    Rhythm("hourly", HOUR, WEEK, tuple(range(24)), (1, 8), (3, 8), 8),
    Rhythm("business", HOUR, (0, 1, 2, 3, 4), tuple(range(8, 19)), (1, 8), (3, 10), 8),
    Rhythm("daily", DAY, WEEK, (6,), (5, 50), (1, 3), 5),
    Rhythm("weekly", 7 * DAY, (0,), (7,), (0, 90), (1, 2), 3),
)


@dataclass
class Score:
    """Late episodes and outages of one mode, summed over tables."""

    episodes: int = 0
    true_episodes: int = 0
    outages: int = 0
    detected: int = 0
    delays: list[float] = field(default_factory=list)

    def add(self, other: Score) -> None:
        self.episodes += other.episodes
        self.true_episodes += other.true_episodes
        self.outages += other.outages
        self.detected += other.detected
        self.delays += other.delays

    @property
    def precision(self) -> float:
        return self.true_episodes / self.episodes if self.episodes else 1.0

    @property
    def recall(self) -> float:
        return self.detected / self.outages if self.outages else 1.0


@dataclass(frozen=True)
class Table:
    """One generated table: its kept updates and the windows of its outages."""

    name: str
    rhythm: Rhythm
    updates: list[dt.datetime]
    outages: list[tuple[dt.datetime, dt.datetime]]


def generate(rhythm: Rhythm, index: int, days: int, seed: int) -> Table:
    """A table of ``rhythm`` over ``days`` days with ``rhythm.outages`` runs of updates removed."""
    rng = random.Random(f"{seed}-{rhythm.name}-{index}")
    scheduled = rhythm.scheduled(START, START + days * DAY, rng)
    dropped: set[int] = set()
    outages = []
    # Outages are spread over the whole history (some fall into what is learnt from), apart.
    population = range(2, len(scheduled) - 4)
    slots = rng.sample(population, min(len(population), rhythm.outages * 6))
    for first in slots:
        if len(outages) == rhythm.outages:
            break
        size = rng.randint(*rhythm.outage_updates)
        span = range(first - 2, first + size + 2)
        if any(i in dropped for i in span) or first + size >= len(scheduled):
            continue
        dropped.update(range(first, first + size))
        outages.append((scheduled[first - 1], scheduled[first + size]))
    kept = [u for i, u in enumerate(scheduled) if i not in dropped]
    return Table(f"{rhythm.name}_{index}", rhythm, kept, sorted(outages))


def check_for(table: Table, mode: str) -> FreshnessCheck:
    period = table.rhythm.period
    return FreshnessCheck(
        key=f"sim:{table.name}",
        conn_id="sim",
        table=table.name,
        column="updated_at",
        timezone=ZONE,
        thresholds=FreshnessThresholds(2 * period, 4 * period, CHECK_EVERY, mode=mode),
        origin="bench",
    )


def replay(
    table: Table, mode: str, settings: LearningSettings, eval_start: dt.datetime, end: dt.datetime
) -> tuple[Score, dict[str, int]]:
    """Judge ``table`` every 15 minutes in ``[eval_start, end)``; the score and the modes used."""
    check = check_for(table, mode)
    updates = table.updates
    history, learnt_at = None, None
    late: list[dt.datetime] = []
    modes: dict[str, int] = {}
    t = eval_start
    i = bisect.bisect_right(updates, t)
    while t < end:
        while i < len(updates) and updates[i] <= t:
            i += 1
        last = updates[i - 1]
        expectation = None
        if mode == "learned":
            if learnt_at is None or t - learnt_at >= RELEARN_EVERY:
                # The results table holds 90 days of checks; the oldest of them still saw the
                # update made just before that window.
                lo = max(bisect.bisect_left(updates, t - RETENTION) - 1, 0)
                history = history_from_updates(updates[lo:i], settings.timezone or ZONE, settings.quantile)
                learnt_at = t
            expectation = expect(check, last, history, settings)
            modes[expectation.mode] = modes.get(expectation.mode, 0) + 1
        status, _, _ = evaluate(check, last, t, expectation)
        if status in (WARN, ERROR):
            late.append(t)
        t += CHECK_EVERY
    return score(late, [o for o in table.outages if o[0] >= eval_start and o[1] <= end]), modes


def score(late: list[dt.datetime], outages: list[tuple[dt.datetime, dt.datetime]]) -> Score:
    episodes: list[tuple[dt.datetime, dt.datetime]] = []
    for t in late:
        if episodes and t - episodes[-1][1] <= CHECK_EVERY:
            episodes[-1] = (episodes[-1][0], t)
        else:
            episodes.append((t, t))
    s = Score(episodes=len(episodes), outages=len(outages))
    for a, b in episodes:
        if any(a <= o_end and b > o_start for o_start, o_end in outages):
            s.true_episodes += 1
    for o_start, o_end in outages:
        first = next((t for t in late if o_start < t <= o_end), None)
        if first is not None:
            s.detected += 1
            s.delays.append((first - o_start).total_seconds() / 3600)
    return s


def run(days: int = 150, warmup: int = 60, tables: int = 3, seed: int = 7, settings=None) -> dict:
    """Scores per rhythm and mode (plus ``all``), and the learned modes seen."""
    settings = settings or LearningSettings()
    eval_start, end = START + warmup * DAY, START + days * DAY
    results: dict[str, dict[str, Score]] = {}
    modes: dict[str, int] = {}
    results["all"] = {"fixed": Score(), "learned": Score()}
    for rhythm in RHYTHMS:
        results[rhythm.name] = {"fixed": Score(), "learned": Score()}
        for n in range(tables):
            table = generate(rhythm, n, days, seed)
            for mode in ("fixed", "learned"):
                s, used = replay(table, mode, settings, eval_start, end)
                results[rhythm.name][mode].add(s)
                results["all"][mode].add(s)
                for k, v in used.items():
                    modes[k] = modes.get(k, 0) + v
    return {"scores": results, "modes": modes}


def _median(delays: list[float]) -> str:
    ordered = sorted(delays)
    return f"{ordered[len(ordered) // 2]:.1f} h" if ordered else "-"


def report(outcome: dict) -> str:
    lines = [
        "| rhythm | outages | fixed precision | fixed recall | fixed late episodes | fixed median delay "
        "| learned precision | learned recall | learned late episodes | learned median delay |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    scores = outcome["scores"]
    for name in [*(n for n in scores if n != "all"), "all"]:
        f, learned = scores[name]["fixed"], scores[name]["learned"]
        lines.append(
            f"| {name} | {f.outages} | {f.precision:.2f} | {f.recall:.2f} | {f.episodes} | {_median(f.delays)} "
            f"| {learned.precision:.2f} | {learned.recall:.2f} | {learned.episodes} | {_median(learned.delays)} |"
        )
    modes = ", ".join(f"{v} {k}" for k, v in sorted(outcome["modes"].items()))
    lines.append(f"learned-mode checks: {modes}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=150, help="days of generated history")
    parser.add_argument("--warmup", type=int, default=60, help="days replayed before scoring starts")
    parser.add_argument("--tables", type=int, default=3, help="tables per rhythm")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.perf_counter()
    outcome = run(args.days, args.warmup, args.tables, args.seed)
    print(
        f"freshness learning replay: {len(RHYTHMS) * args.tables} tables, {args.days} days of history, "
        f"scored over the last {args.days - args.warmup} days, a check every 15 min, "
        f"in {time.perf_counter() - started:.1f} s"
    )
    print(report(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
