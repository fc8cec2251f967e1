"""Languages through the whole pipeline: an upload in German records its user agent and
language in DocumentUploaded, and its owner gets German mail; the gateway answers errors
in the language asked for, with the same codes (real HTTP, MQTT, stores and SMTP)."""

from __future__ import annotations

from email.message import Message
from uuid import UUID, uuid4

import pytest

from bus.journal import JournalEntry
from services.catalog import CatalogEntry
from tests.helpers import eventually
from tests.system.conftest import SAMPLES, Pipeline
from tests.system.test_intake import settle

pytestmark = pytest.mark.timeout(180)

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) chorus-i18n-test/1.0"


def text_of(mail: Message) -> str:
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(mail.get_content_charset() or "ascii")


async def test_an_upload_in_german_is_recorded_so_and_mailed_in_german(
    pipeline: Pipeline,
) -> None:
    _, token = await pipeline.user("grete@example.com", max_documents=5)
    german = {"Accept-Language": "de-CH, de;q=0.9, en;q=0.5", "User-Agent": BROWSER}
    async with pipeline.client(token) as http:
        data = (SAMPLES / "english.txt").read_bytes()
        answer = await http.post(
            "/documents", files={"file": ("bericht.txt", data, "text/plain")}, headers=german
        )
        assert answer.status_code == 202, answer.text
        document_id = UUID(answer.json()["document_id"])
        document = await settle(http, answer.json()["location"])
    assert document["status"] == "ready", document

    [uploaded] = await JournalEntry.find(JournalEntry.type == "documents.uploaded.v1").to_list()
    assert uploaded.envelope["data"]["document_id"] == str(document_id)
    assert uploaded.envelope["data"]["user_agent"] == BROWSER
    assert uploaded.envelope["data"]["locale"] == "de"

    entry = await CatalogEntry.get(document_id)
    assert entry is not None
    assert (entry.locale, entry.user_agent) == ("de", BROWSER)

    await eventually(lambda: bool(pipeline.inbox.about(document_id)), what="the mail")
    [mail] = pipeline.inbox.about(document_id)
    assert mail["Subject"] == "Ihr Dokument bericht.txt ist bereit"
    body = text_of(mail)
    assert body.startswith("Hallo ")
    assert "Ihr Dokument „bericht.txt“ wurde geprüft und ist bereit." in body
    assert f"Dokument-ID: {document_id}" in body


async def test_an_upload_without_a_language_is_recorded_and_mailed_in_english(
    pipeline: Pipeline,
) -> None:
    _, token = await pipeline.user("plain@example.com", max_documents=5)
    async with pipeline.client(token) as http:
        data = (SAMPLES / "english.txt").read_bytes()
        answer = await http.post(
            "/documents",
            files={"file": ("report.txt", data, "text/plain")},
            headers={"User-Agent": "", "Accept-Language": "tlh, fr;q=0.5"},
        )
        assert answer.status_code == 202, answer.text
        document_id = UUID(answer.json()["document_id"])
        await settle(http, answer.json()["location"])

    [uploaded] = await JournalEntry.find(JournalEntry.type == "documents.uploaded.v1").to_list()
    assert uploaded.envelope["data"]["user_agent"] is None
    assert uploaded.envelope["data"]["locale"] == "en"
    await eventually(lambda: bool(pipeline.inbox.about(document_id)), what="the mail")
    [mail] = pipeline.inbox.about(document_id)
    assert mail["Subject"] == "Your document report.txt is ready"


async def test_errors_in_german_keep_their_codes_and_say_their_language(
    pipeline: Pipeline,
) -> None:
    _, token = await pipeline.user("fehler@example.com")
    _, full = await pipeline.user("voll@example.com", max_documents=0)
    de, missing = {"Accept-Language": "de"}, uuid4()
    async with pipeline.client(token) as http:
        answer = await http.get(f"/documents/{missing}", headers=de)
        assert answer.status_code == 404
        assert answer.json() == {"error": "not_found", "detail": f"kein Dokument {missing}"}
        assert answer.headers["Content-Language"] == "de"

        answer = await http.post("/documents", json={"file": "x"}, headers=de)
        assert answer.status_code == 415
        assert answer.json() == {
            "error": "unsupported_media_type",
            "detail": "senden Sie die Datei als multipart/form-data in einem Feld namens 'file'",
        }
        # English, for a client that asks for nothing: as before languages.
        answer = await http.post("/documents", json={"file": "x"})
        assert answer.content == (
            b'{"error":"unsupported_media_type","detail":"send the file as multipart/form-data'
            b" in a field named 'file'\"}"
        )
        assert answer.headers["Content-Language"] == "en"

    async with pipeline.client(full) as http:
        answer = await http.post(
            "/documents", files={"file": ("a.txt", b"hello", "text/plain")}, headers=de
        )
        assert answer.status_code == 403
        assert answer.json() == {
            "error": "quota_exceeded",
            "detail": "Dokumentkontingent erschöpft: 0 von 0 verbraucht",
        }

    async with pipeline.client() as http:
        answer = await http.get("/documents", headers={"Accept-Language": "en;q=0.1, de"})
        assert answer.status_code == 401
        assert answer.json() == {
            "error": "unauthenticated",
            "detail": "senden Sie 'Authorization: Bearer <token>'",
        }
        assert answer.headers["Content-Language"] == "de"
        # pydantic's validation messages have no German: Content-Language must not lie.
        answer = await http.post("/auth/token", json={}, headers=de)
        assert answer.status_code == 422
        assert answer.json()["error"] == "invalid_request"
        assert answer.headers["Content-Language"] == "en"
