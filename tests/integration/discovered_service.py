"""A small service for the discovery tests, under a name of the test's choosing, for
``bus run`` in a subprocess (``CHORUS_TEST_SERVICE_NAME``)."""

import os

from bus import Service
from contracts import DocumentInspected, DocumentUploaded

service = Service(
    os.environ["CHORUS_TEST_SERVICE_NAME"], produces=[DocumentInspected], version="0.0.1-test"
)


@service.on(DocumentUploaded)
async def inspect(event: DocumentUploaded) -> None:
    """Nothing: the tests look only at what the service announces."""
