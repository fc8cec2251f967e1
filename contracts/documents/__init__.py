"""Events of the document-intake domain."""

from contracts.documents.uploaded import DocumentUploaded

__all__ = ["DocumentUploaded"]
