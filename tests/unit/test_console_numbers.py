"""The console's own counting, without a broker: per-second series, rates, the tail's
filter and a chain drawn as a tree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bus.envelope import Envelope
from bus.journal import JournalEntry
from bus.tools.console.live import HISTORY, Series, Traffic
from bus.tools.console.pages.events import TailFilter, as_tree


def test_a_series_counts_per_second_and_forgets_what_is_older_than_its_history() -> None:
    series = Series()
    for at in (100.1, 100.9, 101.5, 103.0):
        series.add("gateway", at)
    series.add("catalog", 103.2)
    assert series.values("gateway", now=103.5, span=5) == [0, 2, 1, 0, 1]
    assert series.keys() == ["catalog", "gateway"]
    series.add("gateway", 100.0 + HISTORY + 1)
    assert sum(series.values("gateway", now=100.0 + HISTORY + 1)) == 2  # 100.x fell out


def envelope(event_type: str, source: str, *, cause: Envelope | None = None) -> Envelope:
    return Envelope.model_validate({
        "id": f"{event_type}-{source}", "source": source, "type": event_type,
        "time": datetime.now(UTC), "data": {},
        "correlationid": cause.correlation if cause else None,
        "causationid": cause.id if cause else None,
    })  # fmt: skip


def test_traffic_counts_by_producer_and_type_and_rates_over_its_window() -> None:
    traffic = Traffic()
    up = envelope("documents.uploaded.v1", "/gateway/1")
    traffic.count(up, at=10.0)
    traffic.count(envelope("accounts.quota_reserved.v1", "/accounts/2", cause=up), at=12.0)
    assert traffic.produced["gateway", "documents.uploaded.v1"] == 1
    assert traffic.by_type["accounts.quota_reserved.v1"] == 1
    produced, _ = traffic.rates(now=15.0)
    assert produced["accounts", "accounts.quota_reserved.v1"] == 0.1
    produced, _ = traffic.rates(now=30.0)
    assert not produced
    assert TailFilter(service="accounts").admits(traffic.recent[1])
    assert not TailFilter(service="accounts").admits(traffic.recent[0])
    assert TailFilter(correlation=up.id).admits(traffic.recent[1])


def test_a_chain_is_drawn_depth_first_from_its_roots() -> None:
    start = datetime.now(UTC)

    def entry(key: str, cause: str | None, ms: int) -> JournalEntry:
        built: JournalEntry = JournalEntry.model_construct(
            id=key, type="t", source="/s/1", time=start + timedelta(milliseconds=ms),
            correlationid="a", causationid=cause, envelope={"data": {"n": ms}},
        )  # fmt: skip
        return built

    steps = as_tree([entry("c", "b", 30), entry("a", None, 0), entry("b", "a", 10),
                     entry("d", "a", 20)])  # fmt: skip
    assert [(s.entry.id, s.depth, round(s.offset_ms)) for s in steps] == [
        ("a", 0, 0), ("b", 1, 10), ("c", 2, 30), ("d", 1, 20),
    ]  # fmt: skip
