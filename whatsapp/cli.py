"""Flask CLI commands: `flask --app app init-db`, `flask --app app replay-webhooks`."""

from __future__ import annotations

import click
from flask import Flask

from . import db, ingest, store


def register(app: Flask) -> None:
    @app.cli.command("init-db")
    def init_db() -> None:
        """Create the tables (they are also created on first use)."""
        conn = db.connect(app.config["SETTINGS"].database_path)
        conn.close()
        click.echo(f"Database ready at {app.config['SETTINGS'].database_path}")

    @app.cli.command("replay-webhooks")
    @click.option("--all", "include_processed", is_flag=True, help="Also re-run deliveries already processed.")
    def replay_webhooks(include_processed: bool) -> None:
        """Process journaled webhook deliveries that failed or were not processed (idempotent)."""
        conn = db.connect(app.config["SETTINGS"].database_path)
        try:
            outcomes = ingest.replay(conn, include_processed, app.config["SETTINGS"].phone_number_id)
            processed = sum(1 for o in outcomes if o.state == "processed")
            failed = [o for o in outcomes if o.state == "failed"]
            click.echo(f"Replayed {len(outcomes)} deliveries: {processed} processed, {len(failed)} failed")
            for outcome in failed:
                click.echo(f"  delivery {outcome.delivery_id}: {outcome.error}")
            click.echo(f"Journal: {store.journal_counts(conn)}")
        finally:
            conn.close()
