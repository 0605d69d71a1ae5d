"""Which engine a connection is on, for the few statements that must differ (docs/postgresql-port.md):
everything else in store/ is one statement for both."""

from __future__ import annotations

from typing import Any


def postgres(conn: Any) -> bool:
    """Whether `conn` is a PostgreSQL connection (whatsapp.pg.PgConnection), not an SQLite one."""
    database = getattr(conn, "database", None)
    return getattr(database, "engine", "sqlite") == "postgresql"
