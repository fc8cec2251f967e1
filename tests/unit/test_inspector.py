"""The inspector's logic on the sample files, without the bus."""

from __future__ import annotations

import base64
import hashlib
import io
import threading
import time
import zipfile
from pathlib import Path

import pytest
from lingua import IsoCode639_1
from pydantic import ValidationError
from pypdf import PdfWriter

from samples.make_samples import build_corrupt_pdf, build_pdf, build_png
from services.inspector import (
    Inspection,
    InspectionError,
    InspectorSettings,
    inspect_bytes,
    language,
)
from services.inspector.image import dimensions
from services.inspector.language import detect_language
from services.inspector.text import decode

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def test_english_text_is_plain_text_in_english_with_its_words_counted() -> None:
    data = sample("english.txt")
    found = inspect_bytes(data, "english.txt")
    assert found.content_type == "text/plain"
    assert found.language == "en"
    assert found.word_count == len(data.decode().split())
    assert found.word_count > 100
    assert found.sha256 == hashlib.sha256(data).hexdigest()
    assert found.size_bytes == len(data)
    assert found.page_count is None
    assert found.details["encoding"] == "utf-8"


def test_german_text_is_german_and_keeps_its_umlauts() -> None:
    data = sample("german.txt")
    found = inspect_bytes(data, "german.txt")
    assert found.content_type == "text/plain"
    assert found.language == "de"
    assert found.word_count == len(data.decode("utf-8").split())
    assert found.details["chars"] == len(data.decode("utf-8")) < len(data)


def test_the_report_is_a_two_page_english_pdf() -> None:
    found = inspect_bytes(sample("report.pdf"), "report.pdf")
    assert found.content_type == "application/pdf"
    assert found.page_count == 2
    assert found.language == "en"
    assert found.word_count is not None
    assert found.word_count > 100
    assert found.details["pdf_version"] == "1.7"


def test_the_pixel_is_a_png_with_its_size_and_no_text() -> None:
    found = inspect_bytes(sample("pixel.png"), "pixel.png")
    assert found.content_type == "image/png"
    assert (found.details["width"], found.details["height"]) == (16, 16)
    assert "PNG image data" in found.details["description"]
    assert (found.language, found.word_count, found.page_count) == (None, None, None)


def test_a_corrupt_pdf_fails_with_a_readable_reason() -> None:
    with pytest.raises(InspectionError) as caught:
        inspect_bytes(sample("corrupt.pdf"), "corrupt.pdf")
    assert caught.value.reason.startswith("the PDF is corrupt or unreadable (")
    assert str(caught.value) == caught.value.reason


def test_an_empty_file_fails() -> None:
    with pytest.raises(InspectionError, match="the file is empty"):
        inspect_bytes(b"", "empty.txt")


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner.txt", "hello")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (Path("/bin/sh").read_bytes()[:65536], "application/x-"),  # an ELF executable
        (_zip(), "application/zip"),
        (build_corrupt_pdf()[9:], "application/octet-stream"),  # noise without the header
    ],
    ids=["executable", "zip", "binary"],
)
def test_unsupported_types_fail_and_say_which_type(data: bytes, content_type: str) -> None:
    with pytest.raises(InspectionError) as caught:
        inspect_bytes(data, "harmless.txt")
    assert caught.value.reason.startswith(f"unsupported content type {content_type}")
    assert "supported: text, PDF" in caught.value.reason


def test_the_declared_type_is_ignored_a_png_named_txt_is_a_png() -> None:
    found = inspect_bytes(sample("pixel.png"), "notes.txt")
    assert found.content_type == "image/png"
    assert found.details["type_by_name"] == "text/plain"
    assert found.word_count is None


def test_a_pdf_named_png_is_read_as_a_pdf() -> None:
    found = inspect_bytes(sample("report.pdf"), "photo.png")
    assert (found.content_type, found.page_count) == ("application/pdf", 2)


NOISE = base64.b64encode(build_corrupt_pdf()[9:1000]).decode()


@pytest.mark.parametrize(
    "text",
    [
        "Hello there, friend.",
        "Extraordinarily incomprehensible circumstances notwithstanding, unquestionably.",
        "12345 67890 " * 40,
        "A" * 500,
        "",
        NOISE,
        " ".join(NOISE[i : i + 7] for i in range(0, len(NOISE), 7)),
    ],
    ids=["short", "few-words", "numbers", "one-long-word", "blank", "base64", "base64-spaced"],
)
def test_no_language_for_too_little_text(text: str) -> None:
    assert detect_language(text, InspectorSettings()) is None


def test_a_text_only_in_languages_the_detector_lacks_gets_none() -> None:
    georgian = (
        "საქართველო არის ლამაზი ქვეყანა კავკასიაში, სადაც ბევრი მაღალი მთა, "
        "სწრაფი მდინარე და ძველი ეკლესია არის. "
    )
    found = inspect_bytes((georgian * 3).encode(), "georgian.txt")
    assert found.content_type == "text/plain"
    assert found.word_count == 45
    assert found.language is None


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-16", "utf-16"), ("utf-8-sig", "utf-8-sig"), ("latin-1", None), ("cp1252", None)],
)
def test_text_in_other_encodings_is_decoded(encoding: str, expected: str | None) -> None:
    text = (SAMPLES / "german.txt").read_text("utf-8").replace("\n", "\r\n") + "„Zitat“ "
    if encoding == "latin-1":
        text = text.replace("„", '"').replace("“", '"')  # not in Latin-1
    data = text.encode(encoding)
    decoded = decode(data)
    assert decoded.text == text
    if expected is not None:
        assert decoded.encoding == expected
    found = inspect_bytes(data, "german.txt")
    assert found.content_type == "text/plain"
    assert found.language == "de"
    assert found.word_count == len(text.split())


def test_an_encrypted_pdf_fails() -> None:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(InspectionError, match="encrypted with a password"):
        inspect_bytes(buffer.getvalue(), "secret.pdf")


def test_a_pdf_without_text_has_pages_but_no_words_or_language() -> None:
    found = inspect_bytes(build_pdf([[], []]), "scan.pdf")
    assert (found.page_count, found.word_count, found.language) == (2, 0, None)


def test_a_long_text_is_cut_at_the_limit() -> None:
    config = InspectorSettings(max_text_chars=300)
    found = inspect_bytes(build_pdf([["word " * 50]] * 10), "long.pdf", config=config)
    assert found.page_count == 10
    assert found.details["text_truncated"] is True
    assert found.details["chars"] <= 300
    text = inspect_bytes(sample("english.txt"), "english.txt", config=config)
    assert text.details["chars"] == 300
    assert text.details["text_truncated"] is True


def test_a_file_over_the_size_limit_fails() -> None:
    with pytest.raises(InspectionError, match="too large"):
        inspect_bytes(sample("english.txt"), "english.txt", config=InspectorSettings(max_bytes=10))


def test_image_dimensions_come_from_the_description() -> None:
    jpeg = (
        "JPEG image data, JFIF standard 1.01, aspect ratio, density 72x72, segment length 16, "
        "baseline, precision 8, 640x480, components 3"
    )
    assert dimensions(jpeg) == (640, 480)
    assert dimensions("GIF image data, version 89a, 3 x 5") == (3, 5)
    assert dimensions("TIFF image data, little-endian") is None
    found = inspect_bytes(build_png(40, 20), "wide.png")
    assert (found.details["width"], found.details["height"]) == (40, 20)


def test_the_detector_is_built_once_even_when_threads_race_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    builds: list[tuple[str, ...]] = []

    class SlowBuilder:
        """Stands in for lingua's builder; its build lets other threads run meanwhile."""

        def __init__(self, codes: tuple[IsoCode639_1, ...]) -> None:
            self.codes = codes

        @classmethod
        def from_iso_codes_639_1(cls, *codes: IsoCode639_1) -> SlowBuilder:
            return cls(codes)

        def with_low_accuracy_mode(self) -> SlowBuilder:
            return self

        def with_preloaded_language_models(self) -> SlowBuilder:
            return self

        def build(self) -> object:
            time.sleep(0.1)
            builds.append(tuple(code.name for code in self.codes))
            return object()

    monkeypatch.setattr(language, "LanguageDetectorBuilder", SlowBuilder)
    monkeypatch.setattr(language, "_detectors", {})
    found: list[object] = []
    barrier = threading.Barrier(4)

    def build() -> None:
        barrier.wait()
        found.append(language.detector(("fr", "en"), low_accuracy=True))

    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builds == [("EN", "FR")]
    assert len(found) == 4
    assert all(each is found[0] for each in found)
    assert language.detector(("en", "fr"), low_accuracy=True) is found[0]
    language.detector(("en", "fr"), low_accuracy=False)
    assert len(builds) == 2


def test_languages_are_iso_codes_lingua_knows() -> None:
    assert InspectorSettings(languages=("EN", " de ")).languages == ("en", "de")
    with pytest.raises(ValidationError, match="not ISO 639-1 codes lingua knows: xx"):
        InspectorSettings(languages=("en", "xx"))
    with pytest.raises(ValidationError, match="at least two"):
        InspectorSettings(languages=("en", "EN"))


def test_an_inspection_is_a_plain_value() -> None:
    found = inspect_bytes(sample("english.txt"), "english.txt")
    assert isinstance(found, Inspection)
    assert found == inspect_bytes(sample("english.txt"), "english.txt")
