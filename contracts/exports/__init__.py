"""Events of archive exports: a user's ready documents as one tar.gz to download."""

from contracts.exports.expired import ExportExpired
from contracts.exports.failed import ExportFailed
from contracts.exports.ready import ExportReady
from contracts.exports.requested import ExportRequested

__all__ = ["ExportExpired", "ExportFailed", "ExportReady", "ExportRequested"]
