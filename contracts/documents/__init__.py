"""Events of the document-intake domain."""

from contracts.documents.content_deleted import DocumentContentDeleted
from contracts.documents.failed import DocumentFailed
from contracts.documents.inspected import DocumentInspected
from contracts.documents.ready import DocumentReady
from contracts.documents.uploaded import DocumentUploaded

__all__ = [
    "DocumentContentDeleted",
    "DocumentFailed",
    "DocumentInspected",
    "DocumentReady",
    "DocumentUploaded",
]
