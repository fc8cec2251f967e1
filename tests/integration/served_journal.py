"""The journal under a name of the test's choosing, for ``bus run`` in a subprocess."""

import os

from services.journal import create_service

service = create_service(os.environ["CHORUS_TEST_SERVICE_NAME"])
