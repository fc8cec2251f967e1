"""The notifier's settings: the mail server, and how long to keep trying it."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotifierSettings(BaseSettings):
    """Where mail goes. Each field reads ``NOTIFIER_<NAME>``.

    The defaults point at the local stack's mail sink
    (``python -m services.notifier.mailsink``), which needs no login.
    """

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    smtp_host: str = "localhost"
    smtp_port: int = Field(default=1025, gt=0, lt=65536)
    sender: str = "Chorus <noreply@chorus.localhost>"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    start_tls: bool = Field(default=False, description="Upgrade the connection with STARTTLS")
    timeout: float = Field(default=10.0, gt=0, description="Seconds one SMTP exchange may take")
    retry_attempts: int = Field(
        default=6,
        ge=1,
        description="Tries in all for one mail while the server is unreachable or answers "
        "with a temporary error; then the event goes to dead letters (replay it with "
        "'bus dlq replay'). Keep the total wait under BUS_CLAIM_LEASE (30 s by default) so "
        "that no other replica takes the same event over meanwhile.",
    )
    retry_initial_delay: float = Field(default=0.5, ge=0)
    retry_max_delay: float = Field(default=8.0, ge=0)
    catalog_wait: float = Field(
        default=5.0,
        ge=0,
        description="Seconds an event about a document waits for the catalog to record the "
        "document's upload (the catalog and the notifier handle events side by side) before "
        "it is refused as one about a document nobody uploaded",
    )
