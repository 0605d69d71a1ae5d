"""Fixtures: an app over a fresh database, an authenticated client, and a loopback Graph API.

The engine is SQLite unless `--engine postgresql` (or WA_TEST_ENGINE=postgresql) is given: then each
test's `settings` name a fresh PostgreSQL database (DATABASE_URL) on the server that
scripts/pg-test-server starts, and the tests of SQLite's own machinery (marked `sqlite_only`: the
file's writer process, its backups, its migrations) are left to the SQLite run."""

from __future__ import annotations

import os

import pytest
from pytest_httpserver import HTTPServer

from app import create_app

from .helpers import AGENT_KEY, APP_SECRET, PHONE_NUMBER_ID, VERIFY_TOKEN
from .postgres import pg_reusable, pg_server_url, pg_template  # noqa: F401 (fixtures)

# Markers whose tests are slow by nature (real browsers, gunicorn under load): `pytest -m "not slow"`
# leaves them out of the everyday loop; the README's command runs everything.
SLOW_BY_NATURE = ("browser", "soak")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--engine",
        choices=("sqlite", "postgresql"),
        default=os.environ.get("WA_TEST_ENGINE", "sqlite"),
        help="the database engine the suite's apps use (default: sqlite, or WA_TEST_ENGINE)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--engine") == "postgresql":
        os.environ["WA_TEST_POSTGRES"] = "1"  # the PostgreSQL-only tests run too


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    postgresql = config.getoption("--engine") == "postgresql"
    kept, left = [], []
    for item in items:
        if any(item.get_closest_marker(name) for name in SLOW_BY_NATURE):
            item.add_marker(pytest.mark.slow)
        (left if postgresql and item.get_closest_marker("sqlite_only") else kept).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


@pytest.fixture(scope="session")
def engine(request: pytest.FixtureRequest) -> str:
    """The engine this run's apps use: 'sqlite' or 'postgresql'."""
    return request.config.getoption("--engine")


@pytest.fixture
def database_url(request: pytest.FixtureRequest, engine: str):
    """An empty PostgreSQL database of the current schema for the test (the run's one database,
    emptied before each test: tests/postgres.py Reusable), or '' on SQLite."""
    if engine != "postgresql":
        return ""
    return request.getfixturevalue("pg_reusable").reset()


@pytest.fixture
def graph(httpserver: HTTPServer) -> HTTPServer:
    """A real HTTP server on loopback standing in for graph.facebook.com."""
    return httpserver


@pytest.fixture
def settings(tmp_path, graph, database_url):
    return {
        "DATABASE_PATH": str(tmp_path / "inbox.sqlite3"),
        "DATABASE_URL": database_url,
        "MEDIA_DIR": str(tmp_path / "media"),
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_ACCESS_TOKEN": "test-access-token",
        "WHATSAPP_API_URL": graph.url_for("").rstrip("/"),
        # The stand-in serves media files itself, on loopback over http (off by default).
        "WHATSAPP_MEDIA_FROM_API_URL": "true",
        "WHATSAPP_API_VERSION": "v26.0",
        "AGENT_API_KEY": AGENT_KEY,
        "graph_backoff": 0.0,
        "graph_timeout": 2.0,
        "media_auto_download": False,
    }


@pytest.fixture(autouse=True)
def _stop_background_workers():
    """Every media and automatic-reply worker a test's own apps started stops with the test (apps made
    outside the `app` fixture too), so none can reach a later test's stand-in Graph. Workers of a
    module's running inbox (made before the test) go on."""
    from whatsapp import away_reply, db, media

    before = set(media._FETCHERS) | set(away_reply._REPLIERS)
    databases = set(db._live)
    yield
    for worker in [*media._FETCHERS, *away_reply._REPLIERS]:
        if worker not in before:
            worker.stop()
    for database in list(db._live):  # and the connections its own apps' databases keep are closed
        if database not in databases:
            database.close()


@pytest.fixture
def app(settings):
    app = create_app(settings)
    yield app
    # its media worker stops here, so it cannot reach the next test's stand-in Graph
    app.extensions["media"].stop()
    app.extensions["away_reply"].stop()  # and its automatic-reply worker


@pytest.fixture
def client(app):
    """A test client that authenticates as an agent with the service key."""
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    return test_client


@pytest.fixture
def anon(app):
    """A test client with no credentials."""
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
