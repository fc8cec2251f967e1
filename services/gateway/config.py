"""The gateway's own settings: ``GATEWAY_<NAME>`` in the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """Where the HTTP API listens and the limits it enforces."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535, description="0 picks a free port")
    max_upload_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    token_ttl: int = Field(default=3600, gt=0, description="Seconds a bearer token lives")
    token_attempts_per_client: int = Field(
        default=20, gt=0, description="Tries at /auth/token one client address may make per window"
    )
    token_attempts_per_key_prefix: int = Field(
        default=10, gt=0, description="Tries with API keys of one prefix per window, any client"
    )
    token_attempt_window: int = Field(
        default=60, gt=0, description="Seconds of one /auth/token rate-limit window"
    )
    max_wait: float = Field(default=60.0, gt=0, description="Longest ?wait= long-poll, seconds")
    poll_interval: float = Field(
        default=0.2, gt=0, description="Seconds between read-model checks while waiting"
    )
    upload_record_ttl: int = Field(
        default=24 * 3600,
        gt=0,
        description="Seconds the gateway remembers an accepted upload the catalog has not seen",
    )
