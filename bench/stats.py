"""The bench's arithmetic and its report: percentiles, the goals, the previous run.

Pure functions of the results (a JSON-shaped dict), tested in tests/unit/test_bench_*.py.
``results.json`` holds one run::

    {"when": ..., "machine": ..., "mode": "full" | "quick",
     "steps": {"consumer": {...}, "latency": {...}, ...},
     "goals": [{"goal": ..., "target": ..., "measured": ..., "met": true}, ...],
     "previous": {the run before, without its own "previous"}}
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Results = Mapping[str, Any]


def percentiles(values: Iterable[float], qs: Iterable[int] = (50, 90, 99)) -> dict[int, float]:
    """The ``q``-th percentiles of ``values`` (linear between the closest ranks, as
    ``statistics.quantiles(method="inclusive")``); an empty dict for no values."""
    ordered = sorted(values)
    if not ordered:
        return {}
    if len(ordered) == 1:
        return dict.fromkeys(qs, ordered[0])
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {q: cuts[q - 1] for q in qs}


def latency_summary(seconds: list[float]) -> dict[str, float | int | None]:
    """p50, p90, p99 and the largest, in milliseconds, of latencies in seconds."""
    found = percentiles(seconds)
    summary: dict[str, float | int | None] = {
        f"p{q}_ms": round(1000 * found[q], 2) if q in found else None for q in (50, 90, 99)
    }
    summary["max_ms"] = round(1000 * max(seconds), 2) if seconds else None
    summary["samples"] = len(seconds)
    return summary


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"a.b": 1}``; lists and scalars are leaves."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def get(results: Results, path: str) -> Any:
    """The value at ``steps.<path>`` (dotted), or None when that was not measured."""
    node: Any = results.get("steps", {})
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def as_run(old: Mapping[str, Any] | None) -> dict[str, Any]:
    """An earlier results.json as a run (``when``, ``steps``, ``goals``), without its own
    ``previous``; a file from before the ``steps`` layout has its sections at the top."""
    if not old:
        return {}
    if "steps" in old:
        return {key: value for key, value in old.items() if key != "previous"}
    steps = {key: value for key, value in old.items() if isinstance(value, Mapping)}
    return {"when": old.get("when"), "machine": old.get("machine"), "steps": steps, "goals": []}


def merge_steps(new: Mapping[str, Any], old_run: Mapping[str, Any]) -> dict[str, Any]:
    """This run's steps, and for the steps it did not run (``--only``), the earlier
    run's (each step carries its own ``when``)."""
    steps = {
        name: dict(value, when=value.get("when", old_run.get("when")))
        for name, value in old_run.get("steps", {}).items()
    }
    steps.update(new)
    return steps


# -- the goals (issue 12, item 6) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    measured: str
    met: bool | None  # None: not measured in this run


Check = Callable[[Results], Verdict]


@dataclass(frozen=True, slots=True)
class Goal:
    name: str
    target: str
    check: Check


NOT_MEASURED = Verdict("not measured", None)


def _ratio(path: str, at_least: float) -> Check:
    def check(results: Results) -> Verdict:
        value = get(results, path)
        if value is None:
            return NOT_MEASURED
        return Verdict(f"{value:.2f}x", value >= at_least)

    return check


def _latency(rate: int, p99_ms: float) -> Check:
    def check(results: Results) -> Verdict:
        run = get(results, f"latency.rate_{rate}")
        if not run or run.get("p99_ms") is None:
            return NOT_MEASURED
        lost, p99 = run["lost"], run["p99_ms"]
        met = lost == 0 and p99 <= p99_ms and run.get("seconds", 0) >= 60
        short = "" if run.get("seconds", 0) >= 60 else f" (only {run['seconds']} s)"
        if run.get("settled") is False:
            short += " (still arriving: lost counts late events)"
        return Verdict(f"{lost:,} lost, p99 {p99:,.1f} ms, sent {run['sent']:,}{short}", met)

    return check


def _replicas(results: Results) -> Verdict:
    speedup = get(results, "replicas.speedup_2")
    cpu_growth = get(results, "replicas.cpu_4_vs_1")
    if speedup is None:
        return NOT_MEASURED
    flat = cpu_growth is not None and cpu_growth <= CPU_FLAT
    text = f"2 replicas {speedup:.2f}x one"
    if cpu_growth is not None:
        text += f"; CPU per event at 4 replicas {cpu_growth:.2f}x one"
    return Verdict(text, speedup >= 1.6 or flat)


CPU_FLAT = 1.2
"""CPU per event counts as flat from 1 to 4 replicas when it grows by at most 20%."""


def _backlog(results: Results) -> Verdict:
    run = get(results, "backlog")
    if not run or run.get("drain_per_s") is None:
        return NOT_MEASURED
    events, drained, rate = run["events"], run["drained"], run["drain_per_s"]
    text = f"{rate:,.0f} events/s ({drained:,} of {events:,} drained)"
    return Verdict(text, events >= 100_000 and drained == events and rate >= 2000)


def _intake(results: Results) -> Verdict:
    run = get(results, "intake")
    if not run or run.get("ready_p50_ms") is None:
        return NOT_MEASURED
    loaded = run.get("preloaded", {})
    documents, journal = loaded.get("catalog_documents", 0), loaded.get("journal_entries", 0)
    text = (
        f"p50 {run['ready_p50_ms']:,.0f} ms, p90 {run['ready_p90_ms']:,.0f} ms "
        f"({documents:,} documents, {journal:,} journal entries loaded)"
    )
    full = documents >= 10_000 and journal >= 100_000
    return Verdict(text, full and run["ready_p50_ms"] <= 400 and run["ready"] == run["uploads"])


def _gateway(results: Results) -> Verdict:
    """Met when 20 clients get >= 500 requests/s at most, and 500 requests/s paced, with
    at most 20 in flight, are answered with p99 <= 50 ms. A run before the paced
    measurement existed is judged on its closed loop alone (saturated: p99 is a queue)."""
    run = get(results, "gateway")
    if not run or run.get("requests_per_s") is None:
        return NOT_MEASURED
    paced = run.get("at_rate")
    text = (
        f"at most {run['requests_per_s']:,.0f} requests/s (p99 {run['p99_ms']:,.1f} ms, "
        f"{run['success'] * 100:.1f}% OK)"
    )
    latency, kept_pace = run, True
    if paced:
        offered = paced.get("offered_per_s", 0)
        text += (
            f"; at {offered:,}/s offered: {paced['requests_per_s']:,.0f}/s, "
            f"p99 {paced['p99_ms']:,.1f} ms, {paced['success'] * 100:.1f}% OK"
        )
        latency = paced
        # vegeta does not time a request's wait for a free worker: it shows as a lower rate.
        sent = paced.get("sent_per_s", paced["requests_per_s"])
        kept_pace = (
            offered >= 500 and sent >= 0.99 * offered
            and paced["requests_per_s"] >= 0.98 * offered
        )  # fmt: skip
    text += f" ({run['documents']:,} documents)"
    met = (
        run["requests_per_s"] >= 500 and kept_pace and latency["p99_ms"] <= 50
        and run["success"] == 1.0 and latency["success"] == 1.0
        and run["documents"] >= 10_000 and run["concurrency"] >= 20
        and (not paced or paced["concurrency"] <= 20)
    )  # fmt: skip
    return Verdict(text, met)


GOALS: tuple[Goal, ...] = (
    Goal("bus vs FastStream", ">= 1.0x a bare serial FastStream subscriber (backlog)",
         _ratio("consumer.bus_vs_faststream", 1.0)),
    Goal("bus vs zmqtt", ">= 0.5x bare zmqtt (backlog)", _ratio("consumer.bus_vs_zmqtt", 0.5)),
    Goal("journal-first publisher", ">= 0.5x plain", _ratio("publish.journal_first_vs_plain", 0.5)),
    Goal("1,000 events/s for 60 s", "0 lost, p99 <= 20 ms", _latency(1000, 20)),
    Goal("replicas on a backlog", "2 replicas >= 1.6x one, or CPU per event flat 1 to 4",
         _replicas),
    Goal("100,000-event backlog", "drains at >= 2,000 events/s", _backlog),
    Goal("upload to ready", "p50 <= 400 ms, 10,000 documents + 100,000 journal entries",
         _intake),
    Goal("gateway GET /documents/{id}",
         ">= 500 requests/s at 20 clients, p99 <= 50 ms (at 500/s offered)",
         _gateway),
)  # fmt: skip


def evaluate(results: Results, goals: Iterable[Goal] = GOALS) -> list[dict[str, Any]]:
    """Each goal, what was measured, and whether it was met (None: not measured)."""
    rows = []
    for goal in goals:
        verdict = goal.check(results)
        rows.append(
            {"goal": goal.name, "target": goal.target, "measured": verdict.measured,
             "met": verdict.met}
        )  # fmt: skip
    return rows


def previous_goal(previous: Results, name: str) -> str:
    """What the previous run measured for the goal ``name`` ("" if nothing)."""
    for row in previous.get("goals", []):
        if row.get("goal") == name:
            return str(row.get("measured", ""))
    return ""


def met_mark(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: "—"}[met]


# -- the summary: one row per measure the issue lists ----------------------------------


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}"
    return str(value)


def _kinds(results: Results, mode: str, key: str, digits: int = 0) -> str | None:
    values = [get(results, f"consumer.{mode}.{kind}.{key}") for kind in KIND_ORDER]
    if all(v is None for v in values):
        return None
    return " / ".join(_n(v, digits) for v in values)


KIND_ORDER = ("bus", "faststream", "zmqtt")


def _consumer_backlog(results: Results) -> str | None:
    rates = _kinds(results, "backlog", "events_per_s")
    return None if rates is None else f"{rates} events/s"


def _consumer_live(results: Results) -> str | None:
    rates = _kinds(results, "live", "events_per_s")
    published = _kinds(results, "live", "publish_per_s")
    return None if rates is None else f"{rates} events/s (publishers: {published}/s)"


def _consumer_cpu(results: Results) -> str | None:
    cpu = _kinds(results, "backlog", "cpu_s_per_1000", 3)
    return None if cpu is None else f"{cpu} CPU s"


def _replica_rows(results: Results) -> str | None:
    counts = [n for n in (1, 2, 4) if get(results, f"replicas.replicas_{n}") is not None]
    if not counts:
        return None
    rates = " / ".join(_n(get(results, f"replicas.replicas_{n}.events_per_s")) for n in counts)
    cpu = " / ".join(_n(get(results, f"replicas.replicas_{n}.cpu_s_per_1000"), 3) for n in counts)
    return f"{rates} events/s; {cpu} CPU s per 1,000 events (all replicas)"


def _latency_row(rate: int) -> Callable[[Results], str | None]:
    def row(results: Results) -> str | None:
        run = get(results, f"latency.rate_{rate}")
        if not run:
            return None
        text = (
            f"p50 {_n(run['p50_ms'], 1)} / p90 {_n(run['p90_ms'], 1)} / "
            f"p99 {_n(run['p99_ms'], 1)} ms; {run['lost']:,} of {run['sent']:,} lost; "
            f"publisher reached {_n(run['publish_per_s'])}/s"
        )
        if collections := run.get("consumer_gc_full"):
            text += (
                f"; consumer's full GC: {collections['count']}, longest "
                f"{_n(collections['max_ms'], 1)} ms"
            )
        return text

    return row


def _publish_row(results: Results) -> str | None:
    first, plain = get(results, "publish.journal_first_per_s"), get(results, "publish.plain_per_s")
    if first is None:
        return None
    return f"{_n(first)} / {_n(plain)} events/s (one at a time)"


def _backlog_row(results: Results) -> str | None:
    run = get(results, "backlog")
    if not run:
        return None
    consumer = {"bus": "the bus", "zmqtt": "bare zmqtt"}.get(run.get("consumer", "zmqtt"))
    return (
        f"published {_n(run['publish_per_s'])}/s; {consumer} drained {_n(run['drained'])} "
        f"at {_n(run['drain_per_s'])}/s"
    )


def _intake_row(results: Results) -> str | None:
    run = get(results, "intake")
    if not run or "ready_p50_ms" not in run:
        return None
    return (
        f"p50 {_n(run['ready_p50_ms'])} / p90 {_n(run['ready_p90_ms'])} ms "
        f"({run['ready']} of {run['uploads']} uploads ready)"
    )


def _gateway_row(results: Results) -> str | None:
    run = get(results, "gateway")
    if not run or "requests_per_s" not in run:
        return None
    row = (
        f"{_n(run['requests_per_s'])} requests/s; p50 {_n(run['p50_ms'], 1)} / "
        f"p99 {_n(run['p99_ms'], 1)} ms"
    )
    if paced := run.get("at_rate"):
        row += (
            f"; paced {_n(paced.get('offered_per_s', 0))}/s: p50 {_n(paced['p50_ms'], 1)} / "
            f"p99 {_n(paced['p99_ms'], 1)} ms"
        )
    return row


SUMMARY: tuple[tuple[str, Callable[[Results], str | None]], ...] = (
    ("consumer draining a backlog: bus / FastStream / zmqtt", _consumer_backlog),
    ("consumer at a live rate: bus / FastStream / zmqtt", _consumer_live),
    ("CPU per 1,000 events, consumer process: bus / FastStream / zmqtt", _consumer_cpu),
    ("1 / 2 / 4 bus replicas on a backlog", _replica_rows),
    ("offered 500 events/s", _latency_row(500)),
    ("offered 1,000 events/s", _latency_row(1000)),
    ("one publisher, journal-first / plain", _publish_row),
    ("100,000-event backlog", _backlog_row),
    ("upload to ready (10,000 documents, 100,000 journal entries loaded)", _intake_row),
    ("gateway GET /documents/{id}, 20 clients, 10,000 documents", _gateway_row),
)


def summary(results: Results) -> list[tuple[str, str, str]]:
    """(measure, this run, previous run) for each row of :data:`SUMMARY`."""
    previous = results.get("previous", {})
    rows = []
    for label, render in SUMMARY:
        now, before = render(results), render(previous) if previous else None
        if now is not None or before is not None:
            rows.append((label, now or "—", before or "—"))
    return rows


def markdown(results: Results) -> str:
    """The README's tables: the summary and the goals, this run beside the previous one."""
    previous = results.get("previous", {})
    lines = [
        f"Run of {results.get('when', '?')} ({results.get('mode', 'full')}, "
        f"{results.get('machine', '?')}); previous run: {previous.get('when', 'none')}.",
        "",
        "| measure | this run | previous run |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {label} | {now} | {before} |" for label, now, before in summary(results)]
    lines += [
        "",
        "| goal | target | measured | met | previous run |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in results.get("goals", []):
        before = previous_goal(previous, row["goal"]) or "—"
        lines.append(
            f"| {row['goal']} | {row['target']} | {row['measured']} | {met_mark(row['met'])} "
            f"| {before} |"
        )
    return "\n".join(lines) + "\n"
