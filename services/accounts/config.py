"""The accounts service's own settings (connections come from :class:`bus.BusSettings`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class AccountsSettings(BaseSettings):
    """Each field reads ``ACCOUNTS_<NAME>`` from the environment.

    Attributes:
        default_max_documents: Documents a new user may hold, unless told otherwise.
        default_max_bytes: Bytes a new user may hold, unless told otherwise (100 MiB).
        pool_size: PostgreSQL connections each process keeps open.
        reconcile_schedule: When each quota's totals are checked against its ledger: a
            cron expression in UTC (default: nightly at 02:30; see
            :mod:`services.accounts.reconcile`).
    """

    model_config = SettingsConfigDict(env_prefix="ACCOUNTS_", extra="ignore")

    default_max_documents: int = Field(default=100, ge=0)
    default_max_bytes: int = Field(default=100 * MIB, ge=0)
    pool_size: int = Field(default=5, ge=1)
    reconcile_schedule: str = "30 2 * * *"
