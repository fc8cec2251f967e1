"""The inspector's own settings, from ``INSPECTOR_*`` environment variables."""

from __future__ import annotations

from lingua import IsoCode639_1
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_LANGUAGES = (
    "en", "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "da",
    "nb", "fi", "cs", "hu", "ro", "tr", "el", "ru", "uk", "ca",
)  # fmt: skip
"""The languages told apart by default: the common European ones.

Measured on the 2-core reference machine (lingua 2.1, models preloaded, RSS growth and
build time): these 20 in low-accuracy mode, 36-47 MB and 0.13-0.35 s; in high-accuracy
mode 556 MB and 2.9 s; all 75 languages 102 MB / 0.33 s (low) and 1.25 GB / 6.3 s (high).
Lazy loading (not preloading) only moves the cost to the first texts: 4.5 s for the first
French one with the high-accuracy subset. Once built, a 900-character text takes about
3 ms in low-accuracy mode.
"""


class InspectorSettings(BaseSettings):
    """What the inspector analyses and how. Each field reads ``INSPECTOR_<NAME>``.

    Attributes:
        languages: ISO 639-1 codes the language detector chooses among
            (``INSPECTOR_LANGUAGES='["en","de"]'``); at least two.
        low_accuracy: lingua's low-accuracy mode: a tenth of the memory, and as accurate
            as the full models on texts over about 120 characters (shorter texts get no
            language here anyway).
        min_language_letters: Fewer letters than this: no language is reported.
        min_language_words: Fewer words (letters only, inner hyphens and apostrophes
            allowed) than this: no language is reported.
        min_language_word_share: Words must be at least this share of the
            whitespace-separated tokens (numbers, code and encoded data are not).
        min_language_confidence: The detector's top confidence (0 to 1) below which no
            language is reported.
        language_sample_chars: Characters from the start of the text given to the detector.
        max_text_chars: Characters of text extracted and counted at most; a longer text
            is cut there (``details["text_truncated"]``).
        max_bytes: Larger files are not inspected (they fail with a reason).
        job_timeout: Seconds one try of the inspection job may take.
        job_attempts: Tries of the job on an unexpected error before it is dead-lettered
            (and the document failed).
        job_retry_delay: Upper bound, in seconds, of the first wait before a job's next try
            (doubling up to 30 s).
    """

    model_config = SettingsConfigDict(env_prefix="INSPECTOR_", extra="ignore")

    languages: tuple[str, ...] = Field(default=DEFAULT_LANGUAGES, min_length=2)
    low_accuracy: bool = True
    min_language_letters: int = Field(default=60, ge=1)
    min_language_words: int = Field(default=8, ge=1)
    min_language_word_share: float = Field(default=0.5, ge=0.0, le=1.0)
    min_language_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    language_sample_chars: int = Field(default=20_000, ge=100)
    max_text_chars: int = Field(default=2_000_000, ge=1)
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    job_timeout: float = Field(default=300.0, gt=0)
    job_attempts: int = Field(default=3, ge=1)
    job_retry_delay: float = Field(default=1.0, ge=0)

    @field_validator("languages")
    @classmethod
    def _known_codes(cls, codes: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(dict.fromkeys(code.strip().lower() for code in codes))
        unknown = [code for code in cleaned if not _is_known(code)]
        if unknown:
            raise ValueError(f"not ISO 639-1 codes lingua knows: {', '.join(unknown)}")
        if len(cleaned) < 2:
            raise ValueError("the detector needs at least two distinct languages")
        return cleaned


def _is_known(code: str) -> bool:
    try:
        IsoCode639_1.from_str(code)
    except ValueError:
        return False
    return True
