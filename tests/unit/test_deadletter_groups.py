"""Grouping dead letters by cause, and the durations dead-letter commands and settings read."""

from datetime import UTC, datetime, timedelta

import pytest

from bus import BusSettings
from bus.deadletters import DeadLetter, group_letters, message_shape
from bus.deadletters.durations import parse_duration
from bus.deadletters.groups import SHAPE_LIMIT, group_key
from bus.deadletters.models import Kind

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def letter(reason: str, *, service: str = "notifier", kind: Kind = "failed", minutes: int = 0,
           error_type: str = "services.notifier.RefusedEventError") -> DeadLetter:  # fmt: skip
    return DeadLetter(
        service=service, topic="documents/ready/v1", kind=kind, reason=reason,
        error_type=error_type, dead_at=T0 + timedelta(minutes=minutes),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        (
            "RefusedEventError: the catalog has e4e94466-a0dd-4857-904d-846671d80d8a accepted",
            "RefusedEventError: the catalog has <uuid> accepted",
        ),
        ("EOF at line 1 column 0", "EOF at line <n> column <n>"),
        ("page 12 of 5f2b9c0e1a2b3c4d5e6f7a8b is broken", "page <n> of <id> is broken"),
        ("took 2.5s on documents/uploaded/v1", "took <n>s on documents/uploaded/v1"),
        ("at 2026-11-29T19:38:11.123+00:00, again", "at <time>, again"),
        ("object at 0x7f3a2b1c", "object at <hex>"),
        ("no  cafe\n\tdeadbeef here", "no cafe deadbeef here"),
    ],
)  # fmt: skip
def test_a_shape_replaces_what_varies_between_letters_of_one_cause(text: str, shape: str) -> None:
    assert message_shape(text) == shape


def test_a_shape_is_cut_to_its_limit() -> None:
    assert len(message_shape("x" * 5000)) == SHAPE_LIMIT


def test_letters_group_by_service_kind_error_type_and_shape_largest_first() -> None:
    refused, bad_json = "RefusedEventError: no upload of document", "not valid JSON: line"
    envelope_error = "bus.envelope.EnvelopeError"
    letters = [
        letter(f"{refused} 279f28c8-d26e-47e2-9b57-f844fa6cfd00"),
        letter(f"{refused} 9751eca0-9ad0-4a91-943a-f4cbd93c8dbc", minutes=5),
        letter(f"{refused} 83dbfff7-faaa-4e69-8a17-a595a34deba6", minutes=2),
        letter(f"{bad_json} 1 column 0", kind="poison", error_type=envelope_error),
        letter(f"{bad_json} 3 column 9", kind="poison", error_type=envelope_error, minutes=9),
        # Same reason, another service: another group.
        letter(f"{refused} 83dbfff7-faaa-4e69-8a17-a595a34deba6", service="catalog"),
    ]

    groups = group_letters(letters)

    assert [(g.service, g.kind, g.count) for g in groups] == [
        ("notifier", "failed", 3), ("notifier", "poison", 2), ("catalog", "failed", 1),
    ]  # fmt: skip
    largest = groups[0]
    assert largest.shape == "RefusedEventError: no upload of document <uuid>"
    assert (largest.oldest, largest.newest) == (T0, T0 + timedelta(minutes=5))
    assert largest.example_id == letters[1].id
    assert largest.example_reason == letters[1].reason
    assert [group_key(each) for each in letters[:3]] == [largest.key] * 3
    assert len({g.key for g in groups}) == 3


def test_equal_counts_put_the_most_recently_failing_group_first() -> None:
    groups = group_letters([letter("a 1", minutes=1), letter("b 1", minutes=7)])
    assert [g.shape for g in groups] == ["b <n>", "a <n>"]


def test_a_group_key_is_stable_across_runs() -> None:
    # The key is what a person types (``--group``) and what a console links to.
    assert group_key(letter("RefusedEventError: no upload of document 1")) == "42b75709ee9d"


def test_no_letters_no_groups() -> None:
    assert group_letters([]) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(minutes=90)),
        ("1.5h", timedelta(minutes=90)),
        (" 7D ", timedelta(days=7)),
        ("3600", timedelta(hours=1)),
        ("0", timedelta(0)),
        ("P30D", timedelta(days=30)),
        ("PT12H", timedelta(hours=12)),
        ("12:00:00", timedelta(hours=12)),
    ],
)
def test_durations_read_the_forms_people_type(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7x", "abc", "-1d", "d7", "1h 30"])
def test_what_is_not_a_duration_is_refused_with_examples(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_retention_defaults_to_30_days_and_reads_a_duration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert BusSettings().deadletter_retention == timedelta(days=30)
    monkeypatch.setenv("BUS_DEADLETTER_RETENTION", "12h")
    assert BusSettings().deadletter_retention == timedelta(hours=12)
    monkeypatch.setenv("BUS_DEADLETTER_RETENTION", "0")
    assert BusSettings().deadletter_retention == timedelta(0)
    monkeypatch.setenv("BUS_DEADLETTER_RETENTION", "soon")
    with pytest.raises(ValueError, match="'soon' is not a duration"):
        BusSettings()
