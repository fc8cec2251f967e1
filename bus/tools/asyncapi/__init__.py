"""One AsyncAPI 3.0.0 document for the whole system (``bus docs``)."""

from bus.tools.asyncapi.document import ASYNCAPI_VERSION, build_document
from bus.tools.asyncapi.files import FILES, to_json, to_yaml, write_documents
from bus.tools.asyncapi.render_html import render_html

__all__ = [
    "ASYNCAPI_VERSION",
    "FILES",
    "build_document",
    "render_html",
    "to_json",
    "to_yaml",
    "write_documents",
]
