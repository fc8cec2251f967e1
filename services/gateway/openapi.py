"""``python -m services.gateway.openapi [PATH]``: write the gateway's OpenAPI document.

``make docs`` writes it to ``docs/openapi.json``; the API serves the same document at
``/openapi.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from services.gateway.api.main import build_app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the gateway's HTTP API."""
    return build_app().openapi()


def render() -> str:
    """The document as ``docs/openapi.json`` holds it: indented JSON, one final newline."""
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Write the document to the one path given, or to standard output."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1:
        sys.exit("usage: python -m services.gateway.openapi [PATH]")
    if args:
        Path(args[0]).write_text(render(), encoding="utf-8")
    else:
        sys.stdout.write(render())


if __name__ == "__main__":
    main()
