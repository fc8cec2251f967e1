"""The inspector: what an uploaded document's bytes really are.

It reads each document that accounts reserved quota for, finds its type from the bytes
(libmagic), its SHA-256 and size, the text of text files and PDFs, the text's language
(lingua) and word count, a PDF's pages, and publishes ``DocumentInspected``, or
``DocumentFailed`` with a reason. :func:`inspect_bytes` does the same without the bus.
"""

from services.inspector.config import InspectorSettings
from services.inspector.inspection import inspect_bytes
from services.inspector.models import Inspection, InspectionError
from services.inspector.service import create_service, service

__all__ = [
    "Inspection",
    "InspectionError",
    "InspectorSettings",
    "create_service",
    "inspect_bytes",
    "service",
]
