"""Which language a text is written in, with lingua (its models ship in the wheel).

The detector is built once per process and configuration, on first use, under a
lock: building it loads the language models (see
:data:`~services.inspector.config.DEFAULT_LANGUAGES` for the cost), and one
:class:`lingua.LanguageDetector` is safe to share between threads.
"""

from __future__ import annotations

import threading
import unicodedata

from lingua import IsoCode639_1, LanguageDetector, LanguageDetectorBuilder

from services.inspector.config import InspectorSettings

_APOSTROPHES = frozenset("'\u2019")

_detectors: dict[tuple[tuple[str, ...], bool], LanguageDetector] = {}
_lock = threading.Lock()


def detector(languages: tuple[str, ...], *, low_accuracy: bool) -> LanguageDetector:
    """The process's detector for these ISO 639-1 codes, built (models preloaded) on first use."""
    key = (tuple(sorted(languages)), low_accuracy)
    found = _detectors.get(key)
    if found is not None:
        return found
    with _lock:
        found = _detectors.get(key)
        if found is None:
            builder = LanguageDetectorBuilder.from_iso_codes_639_1(
                *(IsoCode639_1.from_str(code) for code in key[0])
            )
            if low_accuracy:
                builder = builder.with_low_accuracy_mode()
            found = _detectors[key] = builder.with_preloaded_language_models().build()
        return found


def detect_language(text: str, config: InspectorSettings) -> str | None:
    """The ISO 639-1 code (lowercase) of ``text``'s language, or None.

    None when the text has too few words (tokens of letters only) or letters to judge,
    when words are less than ``config.min_language_word_share`` of its tokens (numbers,
    code, encoded data), or when no language reaches ``config.min_language_confidence``
    (a language the detector was not built for). Known limit: noise that happens to be
    cut into letter-only tokens can still be given a language.
    """
    sample = text[: config.language_sample_chars]
    tokens = sample.split()
    words = [word for word in map(_strip_punctuation, tokens) if _is_word(word)]
    letters = sum(len(word) for word in words)
    if (
        len(words) < config.min_language_words
        or len(words) < config.min_language_word_share * len(tokens)
        or letters < config.min_language_letters
    ):
        return None
    ranked = detector(
        config.languages, low_accuracy=config.low_accuracy
    ).compute_language_confidence_values(sample)
    if not ranked or ranked[0].value < config.min_language_confidence:
        return None
    return ranked[0].language.iso_code_639_1.name.lower()


def _strip_punctuation(token: str) -> str:
    start, end = 0, len(token)
    while start < end and unicodedata.category(token[start]).startswith("P"):
        start += 1
    while end > start and unicodedata.category(token[end - 1]).startswith("P"):
        end -= 1
    return token[start:end]


def _is_word(token: str) -> bool:
    """Letters only, inner dashes and apostrophes allowed: ``don't``, ``Straßen-Bahn``."""
    return bool(token) and all(
        char.isalpha() or char in _APOSTROPHES or unicodedata.category(char) == "Pd"
        for char in token
    )
