"""The mail texts: one Jinja2 template per kind of notification, in ``templates/``.

Each template renders a ``Subject: …`` first line, then the plain-text body.
"""

from __future__ import annotations

from typing import Any, Final, Literal, get_args

from jinja2 import Environment, PackageLoader, StrictUndefined

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


def render(kind: Kind, **values: Any) -> tuple[str, str]:
    """The subject and body of a ``kind`` mail.

    Raises:
        ValueError: an unknown kind, or a template without its subject line.
        jinja2.UndefinedError: a value the template needs is missing.
    """
    if kind not in KINDS:
        msg = f"no mail template {kind!r}; there are {', '.join(KINDS)}"
        raise ValueError(msg)
    text = environment.get_template(f"{kind}.txt").render(**values)
    first, _, body = text.partition("\n")
    if not first.startswith(_SUBJECT):
        msg = f"template {kind}.txt must start with a '{_SUBJECT} …' line"
        raise ValueError(msg)
    return _oneline(first.removeprefix(_SUBJECT)), body.lstrip("\n")
