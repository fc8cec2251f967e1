"""The AsyncAPI document on disk: JSON, YAML and a readable HTML page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from bus.tools.asyncapi.render_html import render_html

FILES = ("asyncapi.json", "asyncapi.yaml", "asyncapi.html")


def to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks (``|``), which read like the text they hold."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(document: dict[str, Any]) -> str:
    """Block-style YAML with the document's key order; loads back to the same data."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def write_documents(document: dict[str, Any], directory: Path) -> list[Path]:
    """Write ``asyncapi.json``, ``asyncapi.yaml`` and ``asyncapi.html`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / name for name in FILES]
    for path, text in zip(paths, (to_json(document), to_yaml(document), render_html(document)),
                          strict=True):  # fmt: skip
        path.write_text(text)
    return paths
