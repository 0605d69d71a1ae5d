"""Flask CLI commands: `flask --app app init-db`, `replay-webhooks`, `prune-webhooks`, `prune-events`,
`backfill-reports`, `backup`, `copy-to-postgres`."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from flask import Flask

from . import backup as backups
from . import db, ingest, store


def register(app: Flask) -> None:
    @app.cli.command("init-db")
    def init_db() -> None:
        """Create the tables, or repair missing ones (they are also created on first use)."""
        database = db.database(app)
        conn = database.open()
        try:
            db.retry_while_locked(lambda: database.apply_schema(conn), "create its tables")
        finally:
            conn.close()
        click.echo(f"Database ready at {database.path}")

    @app.cli.command("backup")
    @click.argument("path")
    @click.option("--force", is_flag=True, help="Replace PATH if it exists.")
    def backup(path: str, force: bool) -> None:
        """Copy the live database to PATH while the service runs (one consistent, checked snapshot)."""
        if db.database(app).engine != "sqlite":
            raise click.ClickException("flask backup copies the SQLite file; back PostgreSQL up with pg_dump")
        source = app.config["SETTINGS"].database_path
        try:
            done = backups.backup(source, path, force=force)
        except backups.BackupError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(
            f"Backed up {source} to {done.path}: {done.size / 1_048_576:.1f} MiB ({done.size} bytes), "
            f"{done.messages} messages in {done.conversations} conversations, integrity_check ok, "
            f"in {done.seconds:.1f} s"
        )

    @app.cli.command("copy-to-postgres")
    @click.argument("url")
    @click.option("--batch", type=click.IntRange(min=1), default=None, help="Rows per batch (default 5000).")
    def copy_to_postgres(url: str, batch: int | None) -> None:
        """Copy this inbox (DATABASE_PATH) into the empty PostgreSQL database at URL, then verify it."""
        from . import copy_to_postgres as copier
        from .db_postgres import redacted

        if not url.startswith(("postgresql://", "postgres://")):
            raise click.ClickException("URL must be a postgresql:// URL")
        source = app.config["SETTINGS"].database_path
        try:
            result = copier.copy_to_postgres(source, url, batch or copier.BATCH, progress=click.echo)
        except copier.CopyError as exc:
            raise click.ClickException(str(exc)) from None
        for line in result.summary():
            click.echo(line)
        if not result.ok:
            raise click.ClickException(
                f"The copy in {redacted(url)} did not match {source} (MISMATCH above): rolled back, nothing kept"
            )
        click.echo(f"Copied {source} into {redacted(url)}: every table and count matches")

    @app.cli.command("prune-webhooks")
    @click.option("--days", type=click.IntRange(min=1), default=None, help="Override WEBHOOK_JOURNAL_DAYS.")
    def prune_webhooks(days: int | None) -> None:
        """Delete journaled webhook bodies processed more than WEBHOOK_JOURNAL_DAYS days ago."""
        days = days or app.config["SETTINGS"].webhook_journal_days
        if not days:
            click.echo("WEBHOOK_JOURNAL_DAYS is 0: the journal is kept forever")
            return
        with _pruned(ingest.prune, days) as (total, conn):
            click.echo(f"Pruned {total} bodies processed over {days} days ago. Journal: {store.journal_counts(conn)}")

    @app.cli.command("prune-events")
    @click.option("--days", type=click.IntRange(min=1), default=None, help="Override EVENTS_RETENTION_DAYS.")
    def prune_events(days: int | None) -> None:
        """Delete events older than EVENTS_RETENTION_DAYS days (conversation.merged events are kept)."""
        days = days or app.config["SETTINGS"].events_retention_days
        if not days:
            click.echo("EVENTS_RETENTION_DAYS is 0: events are kept forever")
            return
        with _pruned(ingest.prune_events, days) as (total, conn):
            click.echo(
                f"Pruned {total} events older than {days} days; the oldest kept is {store.oldest_event_id(conn)}"
            )

    @contextmanager
    def _pruned(prune: Callable[[sqlite3.Connection, int], int], days: int) -> Iterator[tuple[int, sqlite3.Connection]]:
        """Prune a batch at a time until nothing is left: how many went, and the connection."""
        with db.database(app).connection() as conn:
            total = 0
            while removed := prune(conn, days):
                total += removed
            yield total, conn

    @app.cli.command("backfill-reports")
    def backfill_reports() -> None:
        """Derive the reports' response waits and daily message counts from the stored messages, once."""
        from .store.reports import backfill

        with db.database(app).connection() as conn:
            with db.write_transaction(conn):
                done = backfill(conn)
        if done is None:
            click.echo("The reports already have figures: nothing was backfilled")
        else:
            click.echo(f"Backfilled {done['waits']} response waits and {done['daily_rows']} daily rows")

    @app.cli.command("replay-webhooks")
    @click.option("--all", "include_processed", is_flag=True, help="Also re-run deliveries already processed.")
    def replay_webhooks(include_processed: bool) -> None:
        """Process journaled webhook deliveries that failed or were not processed (idempotent)."""
        with db.database(app).connection() as conn:
            outcomes = ingest.replay(conn, include_processed, app.config["SETTINGS"].phone_number_id)
            processed = sum(1 for o in outcomes if o.state == "processed")
            failed = [o for o in outcomes if o.state == "failed"]
            click.echo(f"Replayed {len(outcomes)} deliveries: {processed} processed, {len(failed)} failed")
            for outcome in failed:
                click.echo(f"  delivery {outcome.delivery_id}: {outcome.error}")
            click.echo(f"Journal: {store.journal_counts(conn)}")
