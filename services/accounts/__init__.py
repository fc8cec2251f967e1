"""Accounts: users, their API keys and their quota, in PostgreSQL.

The service reserves quota for each uploaded document and gives it back for a
failed one; :class:`AccountsReader` answers the gateway's read-only questions;
:func:`create_user` (and ``python -m services.accounts create-user``) makes users.
"""

from services.accounts.config import AccountsSettings
from services.accounts.keys import AccountExistsError, InvalidAccountError, NewUser, create_user
from services.accounts.queries import AccountsReader, Identity
from services.accounts.quota import QuotaView
from services.accounts.service import create_service, service

__all__ = [
    "AccountExistsError",
    "AccountsReader",
    "AccountsSettings",
    "Identity",
    "InvalidAccountError",
    "NewUser",
    "QuotaView",
    "create_service",
    "create_user",
    "service",
]
