"""A small service for the console's browser tests, run by ``bus run`` in a subprocess
under a name of the test's choosing (``CHORUS_TEST_SERVICE_NAME``). The console gets a
twin of it (:func:`create_service`, never started) whose settings check the config page."""

from __future__ import annotations

import logging
import os

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus import RetryPolicy, Service
from contracts import DocumentContentDeleted, DocumentUploaded

log = logging.getLogger("console_service")


class ConsoleTestSettings(BaseSettings):
    """``refuse``: the handler fails every event (a dead letter); live, like ``greeting``;
    ``batch_size`` applies only at start."""

    model_config = SettingsConfigDict(env_prefix="CONSOLE_TEST_")

    refuse: bool = False
    greeting: str = "hello"
    batch_size: int = Field(default=10, ge=1, le=1000)


def create_service(name: str) -> Service:
    """The service (no retries: a failure is a dead letter at once). Each event it handles
    causes a DocumentContentDeleted, so that a chain has two links."""
    config = ConsoleTestSettings()
    service = Service(
        name, config=config, live={"refuse", "greeting"}, retry=RetryPolicy(attempts=1),
        version="0.0.1-console-test", produces=[DocumentContentDeleted],
    )  # fmt: skip

    @service.on(DocumentUploaded)
    async def inspect(event: DocumentUploaded) -> None:
        if config.refuse:
            raise RuntimeError(f"refusing {event.filename}: refuse is on")
        log.info("%s, handled %s", config.greeting, event.filename)
        await service.publish(
            DocumentContentDeleted(
                document_id=event.document_id, storage_url=event.storage_url, reason="a test"
            )
        )

    return service


service = create_service(os.environ.get("CHORUS_TEST_SERVICE_NAME", "console-test"))
