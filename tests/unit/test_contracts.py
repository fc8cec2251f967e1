import subprocess
import sys
from typing import ClassVar

import pytest

from contracts import (
    DocumentUploaded,
    Event,
    UnknownEventError,
    all_events,
    by_topic,
    by_type,
    lookup,
)


def test_type_and_topic_are_derived_from_name_and_version() -> None:
    info = DocumentUploaded.contract
    assert info.type == "documents.uploaded.v1"
    assert info.topic == "documents/uploaded/v1"
    assert info.domain == "documents"


def test_registry_finds_events_by_type_and_by_topic() -> None:
    assert by_type("documents.uploaded.v1") is DocumentUploaded
    assert by_topic("documents/uploaded/v1") is DocumentUploaded
    assert lookup("documents/uploaded/v1") is lookup("documents.uploaded.v1")
    assert DocumentUploaded in all_events()
    with pytest.raises(UnknownEventError, match=r"documents\.deleted\.v1"):
        by_type("documents.deleted.v1")


def test_a_new_version_lives_beside_the_old_one() -> None:
    class DocumentUploadedV9(Event):
        event_name: ClassVar[str] = "documents.uploaded"
        event_version: ClassVar[int] = 9

        document_id: str

    assert by_type("documents.uploaded.v9") is DocumentUploadedV9
    assert by_type("documents.uploaded.v1") is DocumentUploaded
    assert DocumentUploadedV9.contract.topic == "documents/uploaded/v9"


@pytest.mark.parametrize(
    ("name", "version", "problem"),
    [
        ("chorus.started", 1, "reserved"),
        ("uploaded", 1, "<domain>.<event>"),
        ("Documents.Uploaded", 1, "lower case"),
        ("documents.uploaded.again", 1, "<domain>.<event>"),
        ("documents.shredded", 0, "positive integer"),
    ],
)
def test_bad_contract_declarations_are_refused(name: str, version: int, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):

        class Bad(Event):
            event_name: ClassVar[str] = name
            event_version: ClassVar[int] = version


def test_two_classes_cannot_claim_one_type() -> None:
    with pytest.raises(ValueError, match="claimed by both"):

        class Impostor(Event):
            event_name: ClassVar[str] = "documents.uploaded"
            event_version: ClassVar[int] = 1


def test_events_reject_unknown_fields_and_bad_values() -> None:
    with pytest.raises(ValueError, match="size_bytes"):
        DocumentUploaded.model_validate(
            {
                "document_id": "9b2f0b7e-4a51-4c1e-9d57-0f6b5b7a1e11",
                "owner": "alice",
                "filename": "a.txt",
                "size_bytes": -1,
                "content_type": "text/plain",
                "storage_url": "file:///a",
            }
        )


def test_contracts_import_pydantic_only() -> None:
    code = (
        "import sys, contracts\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'bus', 'faststream', 'zmqtt', 'aiomqtt', 'beanie', 'redis', 'arq', 'sqlmodel'}]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
