"""A service that logs each upload it handles, under a name of the test's choosing, for
``bus run`` in a subprocess (``CHORUS_TEST_SERVICE_NAME``)."""

import logging
import os

from bus import Service
from contracts import DocumentUploaded

log = logging.getLogger("tests.logging_service")

service = Service(os.environ["CHORUS_TEST_SERVICE_NAME"], version="0.0.1-test")


@service.on(DocumentUploaded)
async def note(event: DocumentUploaded) -> None:
    """One log line per upload."""
    log.info("handled the upload of %s", event.filename)
