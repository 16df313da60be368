"""Fixtures shared by every test directory.

Keep each fixture small and documented; put helpers they need in
``tests/support/``. Fixtures used by one directory only belong in that
directory's ``conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.http_server import LocalHTTPServer
from tests.support.moto_server import moto_s3  # noqa: F401  (session fixture: S3 on 127.0.0.1)


@pytest.fixture(scope="session")
def http_server() -> Iterator[LocalHTTPServer]:
    """A real HTTP server on 127.0.0.1 (random port) for the whole session.

    ``http_server.url`` is its base URL without a trailing slash; the
    endpoints are listed in :mod:`tests.support.http_server`. Shared by every
    test: use unique paths or keys instead of clearing its log.
    """
    with LocalHTTPServer() as server:
        yield server
