"""The mail texts: one Jinja2 template per kind of notification and language, in
``templates/<language>/<kind>.txt`` (:data:`services.i18n.LOCALES`: English and German).

Each template renders a ``Subject: …`` first line, then the plain-text body. A whole
mail per language, rather than gettext fragments: a translator sees (and a reader
checks) one complete letter, with its own word order and layout.
"""

from __future__ import annotations

from typing import Any, Final, Literal, get_args

from jinja2 import Environment, PackageLoader, StrictUndefined

from services.i18n import DEFAULT_LOCALE, supported

Kind = Literal["document_ready", "quota_exceeded", "document_failed"]
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)

_SUBJECT = "Subject:"


def _oneline(value: object) -> str:
    """``value`` on one line: line breaks and runs of white space become one space."""
    return " ".join(str(value).split())


environment = Environment(
    loader=PackageLoader("services.notifier", "templates"),
    undefined=StrictUndefined,  # a value the caller forgot is an error, not a blank
    autoescape=False,  # plain text, not HTML
    keep_trailing_newline=True,
)
environment.filters["oneline"] = _oneline


def render(kind: Kind, *, locale: str = DEFAULT_LOCALE, **values: Any) -> tuple[str, str]:
    """The subject and body of a ``kind`` mail, in ``locale`` (English for a language
    the notifier does not speak; ``de-CH`` is German).

    Raises:
        ValueError: an unknown kind, or a template without its subject line.
        jinja2.UndefinedError: a value the template needs is missing.
    """
    if kind not in KINDS:
        msg = f"no mail template {kind!r}; there are {', '.join(KINDS)}"
        raise ValueError(msg)
    name = f"{supported(locale)}/{kind}.txt"
    text = environment.get_template(name).render(**values)
    first, _, body = text.partition("\n")
    if not first.startswith(_SUBJECT):
        msg = f"template {name} must start with a '{_SUBJECT} …' line"
        raise ValueError(msg)
    return _oneline(first.removeprefix(_SUBJECT)), body.lstrip("\n")
