"""The accounts service's pure parts: quota arithmetic, sizes, keys, input checks."""

import re

import pytest

from services.accounts import QuotaView, create_service
from services.accounts.keys import (
    InvalidAccountError,
    generate_api_key,
    hash_api_key,
    validate_new_user,
)
from services.accounts.quota import format_size, parse_user_id


def test_a_document_that_fits_is_allowed() -> None:
    view = QuotaView(max_documents=5, max_bytes=1000, documents_used=4, bytes_used=400)
    assert view.allows(600)
    assert view.describe_refusal(600) == ""


def test_the_document_count_is_checked_first() -> None:
    view = QuotaView(max_documents=5, max_bytes=1000, documents_used=5, bytes_used=0)
    assert not view.allows(1)
    assert view.describe_refusal(1) == "document quota exhausted: 5 of 5 used"


def test_bytes_over_the_quota_are_refused_with_sizes_a_person_reads() -> None:
    mib = 1024 * 1024
    view = QuotaView(max_documents=5, max_bytes=100 * mib, documents_used=1, bytes_used=99 * mib)
    assert view.allows(mib)
    assert not view.allows(mib + 1)
    assert view.describe_refusal(3 * mib // 2) == (
        "byte quota exceeded: 99 MiB of 100 MiB used, the document needs 1.5 MiB"
    )


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 bytes"), (1, "1 byte"), (1023, "1023 bytes"), (1024, "1 KiB"), (1536, "1.5 KiB"),
     (100 * 1024 * 1024, "100 MiB"), (3 * 1024**3, "3 GiB"), (2048 * 1024**4, "2048 TiB")],
)  # fmt: skip
def test_sizes_are_formatted_in_binary_units(size: int, text: str) -> None:
    assert format_size(size) == text


def test_api_keys_are_random_prefixed_and_hashed_with_sha256() -> None:
    first, second = generate_api_key(), generate_api_key()
    assert first != second
    assert re.fullmatch(r"chorus_[A-Za-z0-9_-]{43}", first)
    assert re.fullmatch(r"[0-9a-f]{64}", hash_api_key(first))
    assert hash_api_key(first) == hash_api_key(first)
    assert hash_api_key(first) != hash_api_key(second)


def test_only_uuids_are_user_ids() -> None:
    assert parse_user_id("alice") is None
    assert str(parse_user_id("9b2f0b7e-4a51-4c1e-9d57-0f6b5b7a1e11")) == (
        "9b2f0b7e-4a51-4c1e-9d57-0f6b5b7a1e11"
    )


def test_new_users_get_a_normalised_email() -> None:
    request = validate_new_user("  Bob@Example.COM ", name="Bob")
    assert request.email == "bob@example.com"
    assert request.max_documents is None


@pytest.mark.parametrize(
    ("email", "max_documents", "max_bytes", "message"),
    [
        ("bob", None, None, "email: not an email address: 'bob'"),
        ("bob@", None, None, "email: not an email address: 'bob@'"),
        ("bob@example.com", -1, None, "max_documents: Input should be greater"),
        ("bob@example.com", None, -5, "max_bytes: Input should be greater"),
    ],
)
def test_bad_new_users_are_refused_saying_why(
    email: str, max_documents: int | None, max_bytes: int | None, message: str
) -> None:
    with pytest.raises(InvalidAccountError, match=re.escape(message)):
        validate_new_user(email, max_documents=max_documents, max_bytes=max_bytes)


def test_the_service_says_what_it_consumes() -> None:
    service = create_service("accounts-test")
    assert sorted(e.contract.type for e in service.consumes) == [
        "documents.failed.v1",
        "documents.uploaded.v1",
    ]
