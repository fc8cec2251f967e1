"""Languages without servers: Accept-Language negotiation, the gateway's catalogs and its
errors in German over its real application, the user agent it records, and the
notifier's mails per language (the real upload and mail: ``tests/system/test_i18n.py``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from string import Formatter

import httpx
import pytest
from babel.messages.extract import extract_from_dir
from starlette.requests import Request

from contracts import DocumentUploaded
from contracts.documents.uploaded import USER_AGENT_MAX_LENGTH
from services.catalog import CatalogEntryBase
from services.gateway.api.main import build_app
from services.gateway.api.routes.documents import user_agent
from services.gateway.errors import PLAIN_DETAILS, catalogs
from services.i18n import LOCALES, Message, _, accepted_languages, negotiate, supported
from services.notifier import KINDS, render
from services.notifier.owners import locale_of

GATEWAY = Path(__file__).resolve().parents[2] / "services" / "gateway"
DOC = uuid.UUID("9b2f0b7e-4a51-4c1e-9d57-0f6b5b7a1e11")


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        (None, "en"),
        ("", "en"),
        ("de", "de"),
        ("DE", "de"),
        ("de-CH", "de"),  # a region falls back to its language
        ("de-CH, en;q=0.5", "de"),  # ... before the next range is tried (RFC 4647 lookup)
        ("en;q=0.5, de", "de"),  # q-values, not the order written, rank the ranges
        ("en, de", "en"),  # equal weights: the order written
        ("fr, de;q=0.8, en;q=0.5", "de"),  # a language not spoken is passed over
        ("fr-CA, de-AT;q=0.9", "de"),
        ("de;q=0, en", "en"),  # q=0: not wanted
        ("de;q=0", "en"),
        ("*", "en"),
        ("en;q=0, *", "de"),  # anything but English
        ("fr, *;q=0.5, de;q=0.4", "en"),  # * outranks de
        ("garbage!!", "en"),
        ("de;q=2", "en"),  # a weight past 1 is malformed: the item is dropped
        ("de;q=abc, xx", "en"),
        (";;;,,,", "en"),
        ("x" * 10_000, "en"),
    ],
)
def test_negotiation(header: str | None, locale: str) -> None:
    assert negotiate(header) == locale


def test_ranges_are_read_with_their_weights_most_wanted_first() -> None:
    assert accepted_languages("en;q=0.5, de-CH, fr;q=0, *;Q=0.1") == [
        ("de-ch", 1.0), ("en", 0.5), ("*", 0.1), ("fr", 0.0),
    ]  # fmt: skip


def test_a_recorded_language_is_used_only_if_spoken() -> None:
    assert [supported(x) for x in ("de", "de-CH", "en", "fr", "", None)] == [
        "de", "de", "en", "en", "en", "en",
    ]  # fmt: skip


def test_a_message_is_english_until_translated_and_fills_its_fields_after() -> None:
    message = _("no document {document_id}", document_id=DOC)
    assert str(message) == f"no document {DOC}"
    assert message.translate(catalogs("de")) == f"kein Dokument {DOC}"
    assert message.translate(catalogs("en")) == str(message)
    assert str(Message("a {literal} brace, no fields")) == "a {literal} brace, no fields"


def test_every_gateway_message_has_a_german_translation_with_the_same_fields() -> None:
    marked = {
        message for _file, _line, message, *_ in extract_from_dir(str(GATEWAY))
    }  # every _("…") in the gateway's code
    assert len(marked) >= 15
    german = catalogs("de")
    for text in marked:
        assert isinstance(text, str)
        translated = german.gettext(text)
        assert translated != text, f"no German for {text!r}"
        assert fields(translated) == fields(text), f"{translated!r}: not the fields of {text!r}"


def test_the_plain_details_marked_for_other_modules_are_still_theirs() -> None:
    sources = "".join(
        (GATEWAY / "api" / name).read_text() for name in ("deps.py", "routes/auth.py")
    )
    for message in PLAIN_DETAILS:
        assert repr(message.text) in sources or f'"{message.text}"' in sources, message.text


def fields(text: str) -> set[tuple[str, str | None]]:
    return {(name, conversion) for _, name, _, conversion in Formatter().parse(text) if name}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


async def test_framework_errors_in_german_keep_their_code(http: httpx.AsyncClient) -> None:
    german = {"Accept-Language": "de-CH, en;q=0.5"}
    answer = await http.get("/nowhere", headers=german)
    assert answer.status_code == 404
    assert answer.json() == {"error": "not_found", "detail": "Nicht gefunden"}
    assert answer.headers["Content-Language"] == "de"
    assert "Accept-Language" in answer.headers["Vary"]

    answer = await http.delete("/documents", headers=german)
    assert answer.status_code == 405
    assert answer.json() == {"error": "method_not_allowed", "detail": "Methode nicht erlaubt"}
    assert answer.headers["Allow"] == "GET, HEAD, POST"

    english = await http.get("/nowhere", headers={"Accept-Language": "fr"})
    assert english.json() == {"error": "not_found", "detail": "Not Found"}
    assert english.headers["Content-Language"] == "en"


def request_with(headers: list[tuple[bytes, bytes]]) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers})


def test_the_user_agent_is_recorded_whole_or_cut_with_a_mark() -> None:
    assert user_agent(request_with([])) is None
    assert user_agent(request_with([(b"user-agent", b"   ")])) is None
    assert user_agent(request_with([(b"user-agent", b"curl/8.5.0")])) == "curl/8.5.0"
    exact = "a" * USER_AGENT_MAX_LENGTH
    assert user_agent(request_with([(b"user-agent", exact.encode())])) == exact
    cut = user_agent(request_with([(b"user-agent", b"b" * 10_000)]))
    assert cut == "b" * (USER_AGENT_MAX_LENGTH - 1) + "…"
    event = DocumentUploaded(
        document_id=DOC, owner="u", filename="f", size_bytes=1, content_type="text/plain",
        storage_url="file:///f", user_agent=cut, locale="de",
    )  # fmt: skip
    assert event.user_agent == cut


def test_an_upload_from_before_the_new_fields_still_reads_as_english() -> None:
    event = DocumentUploaded.model_validate(
        {"document_id": str(DOC), "owner": "u", "filename": "f", "size_bytes": 1,
         "content_type": "text/plain", "storage_url": "file:///f"}
    )  # fmt: skip
    assert (event.user_agent, event.locale) == (None, "en")


VALUES = {
    "document_id": DOC, "owner": "alice", "filename": "report.pdf",
    "content_type": "application/pdf", "language": "de", "reason": "full", "stage": "inspection",
}  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_every_mail_has_a_german_text(kind: str) -> None:
    english = render(kind, **VALUES)  # type: ignore[arg-type]
    german = render(kind, locale="de", **VALUES)  # type: ignore[arg-type]
    assert german[0].startswith("Ihr Dokument report.pdf")
    assert german[1].startswith("Hallo alice,")
    assert str(DOC) in german[1]
    assert german != english
    assert render(kind, locale="de-AT", **VALUES) == german  # type: ignore[arg-type]
    assert render(kind, locale="fr", **VALUES) == english  # type: ignore[arg-type]


def entry() -> CatalogEntryBase:
    now = datetime.now(UTC)
    return CatalogEntryBase(id=DOC, owner="alice", filename="f", created_at=now, updated_at=now)


def test_the_mail_language_is_the_catalogs_and_english_without_one() -> None:
    plain = entry()
    assert locale_of(plain) == "en"
    for locale, expected in (("de", "de"), ("de-AT", "de"), ("fr", "en"), ("en", "en")):
        assert locale_of(plain.model_copy(update={"locale": locale})) == expected
    assert set(LOCALES) == {"en", "de"}
