"""End-to-end tests: a live gunicorn server driven by real clients (a typed TypeScript client,
Chromium through Playwright, Schemathesis). Marked `e2e` and run by `make e2e`."""

from pathlib import Path

import pytest

from tests.e2e import live

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Every test in this folder is an e2e test (before -m selects)."""
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def _fast_and_isolated():
    """The suite-wide fixture of the same name sets up pytest-django's test database, which
    the live server does not use (it has its own) and which Playwright's event loop would
    make unusable at teardown: replaced by this no-op here."""


@pytest.fixture(autouse=True)
def _live_server_helper():
    """pytest-django's own `live_server` (an in-process server) is not used here; its helper,
    which would reach into it, is replaced by this no-op for the tests in this folder."""


@pytest.fixture(scope="session")
def live_server():
    """The application under gunicorn in its own process (see live.py)."""
    server = live.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def accounts():
    return live.ACCOUNTS
