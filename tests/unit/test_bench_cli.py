"""The bench's command line and its pure helpers (no stack: nothing here runs a step)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import __main__ as cli
from bench import httpload, stats
from bench.consumers import Tally


def test_only_takes_comma_separated_steps_in_the_bench_order() -> None:
    args = cli._parse(["--only", "latency,consumer"])
    assert args.steps == ["consumer", "latency"]
    assert args.output == cli.RESULTS


def test_every_step_by_default() -> None:
    assert cli._parse([]).steps == list(cli.STEPS)


def test_an_unknown_step_is_an_error_that_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli._parse(["--only", "consumer,lateny"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown step(s): lateny" in err
    assert "known: consumer" in err


def test_quick_writes_elsewhere_than_the_committed_results() -> None:
    assert cli._parse(["--quick"]).output == cli.QUICK_RESULTS
    assert cli._parse(["--quick", "--output", "x.json"]).output == Path("x.json")


def test_quick_is_smaller_in_every_count() -> None:
    for field in ("events", "replica_events", "backlog_events", "documents", "journal", "uploads"):
        assert getattr(cli.QUICK, field) < getattr(cli.FULL, field)
    assert cli.FULL.latency_seconds == 60
    assert cli.FULL.rates == (500, 1000)
    assert (cli.FULL.documents, cli.FULL.journal) == (10_000, 100_000)


def test_markdown_prints_the_results_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    publish = {"journal_first_per_s": 1.0, "plain_per_s": 2.0, "journal_first_vs_plain": 0.5}
    results: dict[str, Any] = {"when": "2026-01-01", "steps": {"publish": publish}}
    results["goals"] = stats.evaluate(results)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    cli.main(["--markdown", "--output", str(path)])
    out = capsys.readouterr().out
    assert "| journal-first publisher | >= 0.5x plain | 0.50x | yes | — |" in out


def test_markdown_without_results_says_so(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no results at"):
        cli.main(["--markdown", "--output", str(tmp_path / "none.json")])


def test_vegeta_targets_carry_the_header() -> None:
    text = httpload.targets("http://h", ["/a", "/b"], {"Authorization": "Bearer t"})
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines == [
        {"method": "GET", "url": "http://h/a", "header": {"Authorization": ["Bearer t"]}},
        {"method": "GET", "url": "http://h/b", "header": {"Authorization": ["Bearer t"]}},
    ]


def test_vegeta_report_in_milliseconds() -> None:
    report = {
        "latencies": {"50th": 2_000_000, "90th": 5_000_000, "99th": 12_340_000,
                      "max": 40_000_000},
        "requests": 1000, "rate": 100.02, "throughput": 99.94, "success": 1,
        "status_codes": {"200": 1000},
        "errors": [],
    }  # fmt: skip
    summary = httpload.summarize(report, clients=20, seconds=10)
    assert summary["p50_ms"] == 2.0
    assert summary["p99_ms"] == 12.34
    assert summary["requests_per_s"] == 99.9
    assert summary["sent_per_s"] == 100.0
    assert summary["concurrency"] == 20


def test_a_tally_times_from_the_first_event_to_the_last() -> None:
    tally = Tally(latencies=[])
    for _ in range(3):
        tally.seen(sent_at=0.0)
    report = tally.report()
    assert report["count"] == 3
    assert report["last"] >= report["first"] > 0
    assert report["cpu_s"] >= 0
    assert report["latency"]["samples"] == 3
