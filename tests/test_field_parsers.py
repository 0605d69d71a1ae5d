"""The other webhook fields plug in through updates.FIELD_PARSERS and store.APPLIERS (issue 14's
coexistence, groups and account signals): a registered field is parsed into typed updates, applied
in the delivery's transaction, and handed through the writer process; an unregistered one is only
counted."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import pytest

from whatsapp import updates, writer
from whatsapp.store import inbound

from .helpers import app_connection, envelope, post_webhook


@dataclass(frozen=True)
class Probe:
    text: str


@pytest.fixture
def probe_field(monkeypatch):
    """A field 'probe_field' whose updates are written to service_secrets (standing in for a real table)."""
    monkeypatch.setitem(
        updates.FIELD_PARSERS, "probe_field", lambda value, where, d: d.updates.append(Probe(value["text"]))
    )

    def apply(conn, update, result):
        conn.execute(
            "INSERT INTO service_secrets (name, value, created_at) VALUES ('probe', ?, '2026-12-01 00:00:00')"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (update.text,),
        )

    monkeypatch.setitem(inbound.APPLIERS, Probe, apply)


def stored_probe(app) -> str | None:
    with app_connection(app) as conn:
        row = conn.execute("SELECT value FROM service_secrets WHERE name = 'probe'").fetchone()
    return row[0] if row else None


def test_a_registered_field_is_parsed_and_applied(client, app, probe_field):
    body = envelope({"text": "hello"}, field="probe_field")
    assert post_webhook(client, body).status_code == 200
    assert stored_probe(app) == "hello"


def test_an_unregistered_field_is_acknowledged_and_not_stored(client, app):
    body = envelope({"text": "hello"}, field="probe_field")
    assert post_webhook(client, body).status_code == 200
    assert stored_probe(app) is None


def test_a_parse_with_an_update_without_applier_is_refused_not_lost(client, app, monkeypatch):
    monkeypatch.setitem(updates.FIELD_PARSERS, "probe_field", lambda value, where, d: d.updates.append(Probe("x")))
    assert post_webhook(client, envelope({"text": "x"}, field="probe_field")).status_code == 200
    assert stored_probe(app) is None
    with app_connection(app) as conn:
        (state, error) = conn.execute("SELECT state, error FROM webhook_deliveries").fetchone()
    assert state == "failed" and "no applier for Probe" in error  # kept, for a replay once the code is fixed


def test_registering_a_field_twice_is_refused():
    with pytest.raises(ValueError):
        updates.parses("messages")(lambda value, where, d: None)


def test_the_writer_unpickles_updates_modules_dataclasses_only():
    delivery = updates.Delivery(updates=[updates.Contact("+1", None, None, None)])
    assert writer._load_parse(pickle.dumps(delivery)).updates == delivery.updates
    with pytest.raises(pickle.UnpicklingError):
        writer._load_parse(pickle.dumps(updates.Delivery(updates=[Probe("x")])))  # tests.* is not allowed
