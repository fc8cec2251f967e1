"""The bench's arithmetic: percentiles, goals, the previous run, the README's tables."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from bench import stats
from bench.consumers import Tally


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(n) for n in range(1, 101)]  # 1 … 100
    found = stats.percentiles(reversed(values))
    assert found == {50: pytest.approx(50.5), 90: pytest.approx(90.1), 99: pytest.approx(99.01)}


def test_percentiles_of_one_value_and_of_none() -> None:
    assert stats.percentiles([7.0], (50, 99)) == {50: 7.0, 99: 7.0}
    assert stats.percentiles([]) == {}


def test_latency_summary_in_milliseconds() -> None:
    summary = stats.latency_summary([0.001] * 98 + [0.010, 0.500])
    assert summary["p50_ms"] == 1.0
    assert summary["max_ms"] == 500.0
    assert summary["samples"] == 100
    assert summary["p99_ms"] is not None
    assert 10 <= summary["p99_ms"] <= 500


def test_latency_summary_without_samples() -> None:
    assert stats.latency_summary([]) == {
        "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None, "samples": 0
    }  # fmt: skip


def test_flatten_nests_with_dots_and_keeps_lists() -> None:
    assert stats.flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": "x"}) == {
        "a.b": 1, "a.c.d": [1, 2], "e": "x"
    }  # fmt: skip


def test_an_old_flat_results_file_becomes_a_run() -> None:
    old = {"when": "w", "machine": "m", "backlog": {"drain_per_s": 8452.4}}
    run = stats.as_run(old)
    assert run["steps"] == {"backlog": {"drain_per_s": 8452.4}}
    assert run["when"] == "w"
    assert stats.as_run(None) == {}


def test_a_run_drops_its_own_previous() -> None:
    old = {"when": "w", "steps": {"a": {}}, "goals": [], "previous": {"when": "older"}}
    assert "previous" not in stats.as_run(old)


def test_steps_not_run_are_carried_over_with_their_date() -> None:
    previous = {"when": "then", "steps": {"consumer": {"x": 1}, "latency": {"y": 2}}}
    merged = stats.merge_steps({"latency": {"y": 3, "when": "now"}}, previous)
    assert merged == {"consumer": {"x": 1, "when": "then"}, "latency": {"y": 3, "when": "now"}}


def _results(**steps: Any) -> dict[str, Any]:
    return {"when": "now", "steps": steps}


def _verdicts(results: dict[str, Any]) -> dict[str, bool | None]:
    return {row["goal"]: row["met"] for row in stats.evaluate(results)}


def test_goals_not_measured_are_neither_met_nor_failed() -> None:
    rows = stats.evaluate(_results())
    assert len(rows) == len(stats.GOALS)
    assert {row["met"] for row in rows} == {None}
    assert {row["measured"] for row in rows} == {"not measured"}


def test_ratio_goals() -> None:
    verdicts = _verdicts(
        _results(
            consumer={"bus_vs_faststream": 1.0, "bus_vs_zmqtt": 0.49},
            publish={"journal_first_vs_plain": 0.7},
        )
    )
    assert verdicts["bus vs FastStream"] is True
    assert verdicts["bus vs zmqtt"] is False
    assert verdicts["journal-first publisher"] is True


def _latency(**overrides: Any) -> dict[str, Any]:
    run = {"seconds": 60, "sent": 60000, "lost": 0, "p99_ms": 19.5}
    return {"rate_1000": {**run, **overrides}}


@pytest.mark.parametrize(
    ("overrides", "met"),
    [
        ({}, True),
        ({"lost": 1}, False),
        ({"p99_ms": 20.1}, False),
        ({"seconds": 10}, False),  # a --quick run does not meet a 60 s goal
    ],
)
def test_latency_goal(overrides: dict[str, Any], met: bool) -> None:
    assert _verdicts(_results(latency=_latency(**overrides)))["1,000 events/s for 60 s"] is met


@pytest.mark.parametrize(
    ("speedup", "cpu_growth", "met"),
    [(1.6, 2.0, True), (1.2, 1.1, True), (1.2, 1.5, False), (1.2, None, False)],
)
def test_replica_goal_speedup_or_flat_cpu(
    speedup: float, cpu_growth: float | None, met: bool
) -> None:
    replicas: dict[str, Any] = {"speedup_2": speedup}
    if cpu_growth is not None:
        replicas["cpu_4_vs_1"] = cpu_growth
    assert _verdicts(_results(replicas=replicas))["replicas on a backlog"] is met


@pytest.mark.parametrize(
    ("run", "met"),
    [
        ({"events": 100_000, "drained": 100_000, "drain_per_s": 2000.0}, True),
        ({"events": 100_000, "drained": 99_999, "drain_per_s": 5000.0}, False),
        ({"events": 10_000, "drained": 10_000, "drain_per_s": 5000.0}, False),
        ({"events": 100_000, "drained": 100_000, "drain_per_s": 1999.0}, False),
    ],
)
def test_backlog_goal(run: dict[str, Any], met: bool) -> None:
    assert _verdicts(_results(backlog=run))["100,000-event backlog"] is met


def _intake(p50: float, documents: int = 10_000) -> dict[str, Any]:
    return {
        "uploads": 50, "ready": 50, "ready_p50_ms": p50, "ready_p90_ms": p50 * 2,
        "preloaded": {"catalog_documents": documents, "journal_entries": 100_000},
    }  # fmt: skip


def test_intake_goal_needs_the_full_preload() -> None:
    assert _verdicts(_results(intake=_intake(399)))["upload to ready"] is True
    assert _verdicts(_results(intake=_intake(401)))["upload to ready"] is False
    assert _verdicts(_results(intake=_intake(100, documents=1000)))["upload to ready"] is False


def test_a_skipped_step_is_not_measured() -> None:
    verdicts = _verdicts(_results(intake={"skipped": "no gateway"}, gateway={"skipped": "x"}))
    assert verdicts["upload to ready"] is None
    assert verdicts["gateway GET /documents/{id}"] is None


def _gateway(**overrides: Any) -> dict[str, Any]:
    run = {"requests_per_s": 600.0, "p99_ms": 40.0, "success": 1.0, "documents": 10_000,
           "concurrency": 20}  # fmt: skip
    return {**run, **overrides}


@pytest.mark.parametrize(
    ("overrides", "met"),
    [
        ({}, True),
        ({"requests_per_s": 499.0}, False),
        ({"p99_ms": 51.0}, False),
        ({"success": 0.99}, False),
    ],
)
def test_gateway_goal(overrides: dict[str, Any], met: bool) -> None:
    verdicts = _verdicts(_results(gateway=_gateway(**overrides)))
    assert verdicts["gateway GET /documents/{id}"] is met


def _paced(**overrides: Any) -> dict[str, Any]:
    run = {"offered_per_s": 500, "requests_per_s": 499.9, "sent_per_s": 500.0, "p99_ms": 20.0,
           "success": 1.0, "concurrency": 20}  # fmt: skip
    return {**run, **overrides}


@pytest.mark.parametrize(
    ("closed", "paced", "met"),
    [
        ({"p99_ms": 70.0}, {}, True),  # saturated p99 is a queue; the paced run decides
        ({"p99_ms": 70.0}, {"p99_ms": 51.0}, False),
        ({"p99_ms": 70.0}, {"requests_per_s": 450.0}, False),  # fell behind the rate
        ({"p99_ms": 70.0}, {"sent_per_s": 490.0}, False),  # waited for workers, untimed
        ({"p99_ms": 70.0}, {"offered_per_s": 300, "requests_per_s": 300.0}, False),
        ({"p99_ms": 70.0}, {"concurrency": 50}, False),
        ({"p99_ms": 70.0}, {"success": 0.99}, False),
        ({"requests_per_s": 499.0}, {}, False),  # the most it serves is under 500
    ],
)
def test_gateway_goal_with_a_paced_run(
    closed: dict[str, Any], paced: dict[str, Any], met: bool
) -> None:
    run = _gateway(**closed, at_rate=_paced(**paced))
    verdicts = _verdicts(_results(gateway=run))
    assert verdicts["gateway GET /documents/{id}"] is met


def test_markdown_shows_this_run_beside_the_previous_one() -> None:
    previous = _results(publish={"journal_first_per_s": 500.0, "plain_per_s": 3000.0,
                                 "journal_first_vs_plain": 0.17})  # fmt: skip
    previous["goals"] = stats.evaluate(previous)
    results = _results(publish={"journal_first_per_s": 2000.0, "plain_per_s": 3000.0,
                                "journal_first_vs_plain": 0.67})  # fmt: skip
    results["goals"] = stats.evaluate(results)
    results["previous"] = previous
    text = stats.markdown(results)
    row = next(line for line in text.splitlines() if line.startswith("| one publisher"))
    assert row == (
        "| one publisher, journal-first / plain | 2,000 / 3,000 events/s (one at a time) "
        "| 500 / 3,000 events/s (one at a time) |"
    )
    goal = next(line for line in text.splitlines() if line.startswith("| journal-first"))
    assert "| 0.67x | yes | 0.17x |" in goal


def test_markdown_leaves_out_rows_measured_in_neither_run() -> None:
    text = stats.markdown(_results())
    assert "consumer draining" not in text
    assert "| goal | target |" in text


def test_a_latency_run_that_did_not_settle_says_so() -> None:
    rows = stats.evaluate(_results(latency=_latency(lost=10, settled=False)))
    row = next(r for r in rows if r["goal"] == "1,000 events/s for 60 s")
    assert row["met"] is False
    assert "still arriving" in row["measured"]


def test_the_backlog_row_names_the_consumer_of_each_run() -> None:
    old = _results(backlog={"publish_per_s": 6438.2, "drained": 100_000, "drain_per_s": 8452.4})
    new = _results(backlog={"consumer": "bus", "publish_per_s": 4550.0, "drained": 100_000,
                            "drain_per_s": 1033.0})  # fmt: skip
    new["previous"] = old
    row = next(r for r in stats.summary(new) if r[0] == "100,000-event backlog")
    assert "the bus drained 100,000 at 1,033/s" in row[1]
    assert "bare zmqtt drained 100,000 at 8,452/s" in row[2]


def test_the_latency_row_names_the_consumer_s_longest_full_collection() -> None:
    run = {"p50_ms": 1.0, "p90_ms": 2.0, "p99_ms": 9.0, "lost": 0, "sent": 60000,
           "publish_per_s": 1000.0, "consumer_gc_full": {"count": 3, "max_ms": 4.2}}  # fmt: skip
    table = stats.markdown(_results(latency={"rate_1000": run}))
    assert "consumer's full GC: 3, longest 4.2 ms" in table


def test_a_tally_times_the_full_collections() -> None:
    tally = Tally()
    gc.callbacks.append(tally.collected)
    try:
        gc.collect(1)  # not a full one
        gc.collect(2)
    finally:
        gc.callbacks.remove(tally.collected)
    assert len(tally.full_collections) == 1
    assert tally.report()["gc_full"]["count"] == 1
