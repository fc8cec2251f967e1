"""Whom to mail about a document, and what about it: the catalog and accounts say, not the event.

An event about a document (DocumentReady, QuotaExceeded, DocumentFailed) names an owner,
an address and a file; anyone who can publish it can name any. So the notifier takes

* the owner, the file name and what the inspection found from the catalog's entry of
  the document (which takes owner and file name from the gateway's upload alone),
* the address from the owner's account (accounts' PostgreSQL, read only),

and mails in the language the catalog recorded from the upload (negotiated by the
gateway from the client's Accept-Language; English if the entry has none). It
refuses an event the catalog contradicts: a document it has no upload of, another
owner, or an outcome the catalog has decided otherwise (a failure of a document that
is ready, say). Only the reason and stage of a refusal or a failure are the event's own
(the catalog records the same text from the same event).
"""

from __future__ import annotations

from typing import Any, Final, Protocol
from uuid import UUID

from bus import BusNotStartedError
from services.accounts import AccountsReader
from services.catalog import CatalogEntryBase, Status, entry_of
from services.i18n import supported
from services.notifier.templates import Kind

OUTCOME: Final[dict[Kind, Status]] = {
    "document_ready": "ready",
    "quota_exceeded": "rejected",
    "document_failed": "failed",
}
"""The catalog status each kind of mail is about."""


class RefusedEventError(ValueError):
    """The catalog contradicts the event: no mail. A ``ValueError``, so that no retry
    policy tries it again: the event goes to dead letters at once, with this reason."""


class Owners(Protocol):
    """Where the notifier looks a document and its owner up (tests pass a stand-in)."""

    async def document(self, document_id: UUID) -> CatalogEntryBase | None:
        """The catalog's entry of the document, if it has one."""
        ...

    async def email(self, owner: str) -> str | None:
        """The address of the owner's account, if there is one."""
        ...


class Records:
    """The real records: the catalog's read model (MongoDB, initialised by the service)
    and the accounts database, open between :meth:`open` and :meth:`close`."""

    def __init__(self) -> None:
        self._accounts: AccountsReader | None = None

    async def open(self, postgres_url: str) -> None:
        self._accounts = AccountsReader(postgres_url, pool_size=1)

    async def close(self) -> None:
        if self._accounts is not None:
            await self._accounts.close()
            self._accounts = None

    async def document(self, document_id: UUID) -> CatalogEntryBase | None:
        return await entry_of(document_id)

    async def email(self, owner: str) -> str | None:
        if self._accounts is None:
            raise BusNotStartedError("the accounts database is not open")
        return await self._accounts.email_of(owner)


def is_catalogued(entry: CatalogEntryBase | None) -> bool:
    """Whether the catalog has the document's upload (so, an owner and a file name)."""
    return entry is not None and entry.owner is not None and entry.filename is not None


def verified(
    kind: Kind, document_id: UUID, owner: str, entry: CatalogEntryBase | None
) -> CatalogEntryBase:
    """``entry`` if it agrees with an event of ``kind`` about ``document_id`` naming ``owner``.

    Raises:
        RefusedEventError: No upload of the document in the catalog, another owner, or
            an outcome the catalog decided otherwise.
    """
    if entry is None or not is_catalogued(entry):
        raise RefusedEventError(f"the catalog has no upload of document {document_id}")
    if entry.owner != owner:
        raise RefusedEventError(
            f"the event names {owner!r} as the owner of {document_id}; the catalog does not"
        )
    outcome = OUTCOME[kind]
    decided = entry.status if kind == "document_ready" or entry.terminal else outcome
    if decided != outcome:
        raise RefusedEventError(f"the catalog has {document_id} {entry.status}, not {outcome}")
    return entry


def document_values(kind: Kind, entry: CatalogEntryBase) -> dict[str, Any]:
    """The template values the catalog vouches for: owner, file name, and for a ready
    document the type and language the inspection found."""
    values: dict[str, Any] = {"owner": entry.owner, "filename": entry.filename}
    if kind == "document_ready":
        inspection = entry.inspection or {}
        values |= {
            "content_type": inspection.get("content_type", "unknown"),
            "language": inspection.get("language"),
        }
    return values


def locale_of(entry: CatalogEntryBase) -> str:
    """The language to mail the owner in: the one the catalog recorded from the upload if
    the notifier speaks it, else English (also for an entry recorded without one)."""
    return supported(entry.locale)
