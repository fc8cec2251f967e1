"""Languages: which one a client asked for, and the texts in it.

Two things every service that speaks to people needs:

* :func:`negotiate` reads an ``Accept-Language`` header (RFC 9110, section 12.5.4): its
  language ranges in order of their q-values, then Babel's lookup
  (:func:`babel.negotiate_locale`, RFC 4647 section 3.4: ``de-CH`` falls back to ``de``
  before the next range is tried). Anything unknown, absent or malformed is English.
* :class:`Catalogs` holds a package's gettext catalogs (``locale/<lang>/LC_MESSAGES/
  messages.po``, read with Babel: no compiled ``.mo`` to keep in step), and
  :func:`_` marks a message for them: the English text is the message id, with
  ``{name}`` fields filled in after translation.

Refresh a catalog after changing messages (Babel's command line)::

    pybabel extract -o /tmp/messages.pot services/gateway
    pybabel update -i /tmp/messages.pot -d services/gateway/locale
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from babel import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

DEFAULT_LOCALE: Final = "en"
"""The language of every text as written in the code, and of an answer nobody asked
another language for."""

LOCALES: Final[tuple[str, ...]] = (DEFAULT_LOCALE, "de")
"""The languages the services speak."""

# RFC 9110 section 12.5.4: a language range (RFC 4647: 1*8ALPHA *("-" 1*8alphanum), or
# "*") with an optional weight "q=" 0 to 1 with at most three decimals.
_RANGE = re.compile(
    r"^\s*(?P<range>[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*"
    r"(?:;\s*[qQ]\s*=\s*(?P<q>0(?:\.\d{0,3})?|1(?:\.0{0,3})?))?\s*$"
)


def accepted_languages(header: str | None) -> list[tuple[str, float]]:
    """The language ranges of an ``Accept-Language`` value with their weights, most
    wanted first (equal weights in the order given), in lower case; malformed items
    are left out.

    >>> accepted_languages("en;q=0.5, de-CH, fr;q=0")
    [('de-ch', 1.0), ('en', 0.5), ('fr', 0.0)]
    """
    ranges: list[tuple[float, int, str]] = []
    for position, item in enumerate((header or "").split(",")):
        match = _RANGE.match(item)
        if match is not None:
            ranges.append((-float(match["q"] or 1), position, match["range"].lower()))
    return [(language, -weight) for weight, _, language in sorted(ranges)]


def negotiate(header: str | None, available: tuple[str, ...] = LOCALES) -> str:
    """The language of ``available`` to answer in, for this ``Accept-Language`` value.

    Ranges are tried most wanted first; each matches a language exactly or by its primary
    subtag (``de-CH`` → ``de``). ``*`` takes the first language not refused with
    ``q=0``. No match, no header or a malformed one: the default (English, the first of
    ``available``).

    >>> negotiate("fr-CA, de-CH;q=0.8, en;q=0.5")
    'de'
    """
    ranges = accepted_languages(header)
    refused = {language for language, weight in ranges if weight == 0}
    for language, weight in ranges:
        if weight == 0:
            break  # sorted: only refusals follow
        if language == "*":
            return next((a for a in available if a not in refused), available[0])
        found = negotiate_locale([language], available, sep="-")
        if found is not None:
            return found.lower()
    return available[0]


def supported(locale: str | None) -> str:
    """``locale`` if the services speak it (or its primary language), else the default:
    for a language recorded earlier, by a version that may have spoken others."""
    return negotiate(locale) if locale else DEFAULT_LOCALE


@dataclass(frozen=True)
class Message:
    """A text for people, kept untranslated until the language is known.

    ``str()`` gives the English; :meth:`translate` the text in a catalog's language.
    ``text`` is the gettext message id: ``{name}`` fields are filled from ``values``
    after translation (a message with no values is never formatted, so a literal ``{``
    in it stays as it is).
    """

    text: str
    values: Mapping[str, object] = field(default_factory=dict)

    def translate(self, translations: NullTranslations) -> str:
        """This message in the language of ``translations``."""
        translated = translations.gettext(self.text)
        return translated.format(**self.values) if self.values else translated

    def __str__(self) -> str:
        return self.translate(NullTranslations())


def _(text: str, **values: object) -> Message:
    """Mark ``text`` for translation (``pybabel extract`` finds every ``_("…")``);
    ``values`` fill its ``{name}`` fields once it is translated."""
    return Message(text, values)


class Catalogs:
    """One package's translations: ``<folder>/<lang>/LC_MESSAGES/messages.po``.

    Args:
        folder: The package's ``locale`` folder.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, locale: str) -> NullTranslations:
        """The translations into ``locale``; none (English as written) for the default
        language or one without a catalog."""
        return _load(self.folder / locale / "LC_MESSAGES" / "messages.po")


@functools.cache
def _load(path: Path) -> NullTranslations:
    if not path.is_file():
        return NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # leaves out fuzzy and untranslated entries
    compiled.seek(0)
    return Translations(compiled)
