"""`flask copy-to-postgres URL` (issue 17): an SQLite inbox filled through the API and webhooks is copied
into an empty PostgreSQL database, verified table by table and count by count, and an app started on
the copy answers as the SQLite app did. Needs the PostgreSQL test server (WA_TEST_POSTGRES=1, or
`--engine postgresql`); the source is always an SQLite file, whichever engine the run's apps use."""

from __future__ import annotations

import json
import secrets

import psycopg
import pytest

from app import create_app

from .helpers import (
    AGENT_KEY,
    PHONE_NUMBER_ID,
    bearer,
    customer_writes,
    fixture,
    now_ts,
    post_webhook,
    send_ok,
    status_update,
    text_message,
    wamid,
)
from .helpers import agent_key as key_of
from .postgres import create_database, drop_database

API = "/api/whatsapp"
MERGED_USER = "US.13491208655302741918"
SEND_PATH = f"/v26.0/{PHONE_NUMBER_ID}/messages"
CUSTOMERS = [
    ("14155550101", "María José Núñez", "My parcel never came, where is it?"),
    ("14155550102", "Bob Stone", "Refund please, the box was broken"),
    ("14155550103", "Chloé Dubois", "Bonjour, ma commande est arrivée cassée"),
    ("14155550104", "Dmitri Ivanov", "When do you open tomorrow?"),
]


@pytest.fixture
def sqlite_settings(settings):
    """The source app's settings: its SQLite file, whatever engine the run's other apps use."""
    return {**settings, "DATABASE_URL": ""}


@pytest.fixture
def source(sqlite_settings):
    app = create_app(sqlite_settings)
    yield app
    app.extensions["media"].stop()
    app.extensions["away_reply"].stop()


@pytest.fixture
def target(pg_server_url):
    """An empty PostgreSQL database (no schema yet): its URL, dropped after the test."""
    name = f"wa_copy_{secrets.token_hex(6)}"
    yield create_database(pg_server_url, name)
    drop_database(pg_server_url, name)


def filled(app, graph) -> dict[str, str]:
    """An inbox with customers, a group, replies with their statuses, agents, labels, notes, an assignment,
    a closed conversation and unread ones, made through the API and webhooks; the agents' keys."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    runner = app.test_cli_runner()
    keys = {"ada": key_of(runner, "Ada", "--admin"), "bo": key_of(runner, "Bo")}
    for wa_id, name, body in CUSTOMERS:
        customer_writes(client, body, wa_id=wa_id, name=name)
    assert (
        post_webhook(client, text_message("And the invoice?", wa_id="14155550102", name="Bob Stone")).status_code == 200
    )
    group = json.loads(json.dumps(fixture("group_text")))
    group["entry"][0]["changes"][0]["value"]["messages"][0].update(id=wamid("grp"), timestamp=str(now_ts() - 3))
    assert post_webhook(client, group).status_code == 200
    assert post_webhook(client, fixture("group_participants_add")).status_code == 200
    # a thread by user id alone, then a delivery with both ids: merged into Dmitri's, its id never given again
    customer_writes(client, "Me again, from my username", wa_id=None, user_id=MERGED_USER, username="@dmitri")
    customer_writes(client, "Both of me", wa_id=CUSTOMERS[3][0], user_id=MERGED_USER)
    conversations = client.get(f"{API}/conversations", query_string={"limit": 50}).get_json()["conversations"]
    by_phone = {c["phone_number"]: c["id"] for c in conversations}
    maria, bob, chloe = (by_phone["+" + wa_id] for wa_id, _, _ in CUSTOMERS[:3])
    # replies, with the statuses Meta sends back (the ladder and a pricing block on one)
    replies = [(maria, CUSTOMERS[0][0], "It ships today"), (bob, CUSTOMERS[1][0], "Refund on its way")]
    for n, (cid, wa_id, text) in enumerate([*replies, (maria, CUSTOMERS[0][0], "Tracking: X1")]):
        sent = send_ok(wa_id, message_id=f"wamid.CP{n}")
        graph.expect_oneshot_request(SEND_PATH, method="POST").respond_with_json(sent)
        answer = client.post(f"{API}/send", json={"conversation_id": cid, "message": text})
        assert answer.status_code == 200, answer.get_json()
    ladder = [("wamid.CP0", "sent"), ("wamid.CP0", "delivered"), ("wamid.CP0", "read"), ("wamid.CP1", "sent")]
    for wid, status in ladder:
        recipient = CUSTOMERS[0][0] if wid == "wamid.CP0" else CUSTOMERS[1][0]
        assert post_webhook(client, status_update(wid, status, recipient=recipient)).status_code == 200
    priced = status_update("wamid.CP2", "delivered", recipient=CUSTOMERS[0][0])
    priced["entry"][0]["changes"][0]["value"]["statuses"][0]["pricing"] = {
        "billable": True,
        "pricing_model": "PMP",
        "category": "utility",
        "type": "regular",
    }
    assert post_webhook(client, priced).status_code == 200
    admin = bearer(keys["ada"])
    for name, colour in [("VIP", "#e11d48"), ("Billing", "#2563eb")]:
        assert client.post(f"{API}/labels", json={"name": name, "colour": colour}, headers=admin).status_code == 201
    for cid, label in [(maria, "VIP"), (bob, "VIP"), (bob, "Billing"), (chloe, "Billing")]:
        assert client.post(f"{API}/add-label", json={"conversation_id": cid, "label": label}).status_code == 200
    note = {"conversation_id": maria, "body": "@Bo please call her back"}
    assert client.post(f"{API}/notes", json=note, headers=admin).status_code == 201
    assert client.post(f"{API}/assign-agent", json={"conversation_id": maria, "agent_id": 2}).status_code == 200
    graph.expect_oneshot_request(SEND_PATH, method="POST").respond_with_json({"success": True})  # its read receipt
    assert client.post(f"{API}/mark-read", json={"conversation_id": chloe}).status_code == 200
    assert client.post(f"{API}/close", json={"conversation_id": bob}).status_code == 200
    return keys


def copy(app, url: str):
    return app.test_cli_runner().invoke(args=["copy-to-postgres", url])


def answers(app, keys: dict[str, str]) -> dict[str, object]:
    """What the inbox answers over HTTP: the list and its tabs, each thread, search, stats, labels,
    notes, the agents, a mention, health's journal counts (times of the request itself left out)."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    got: dict[str, object] = {}

    def get(name: str, path: str, headers: dict[str, str] | None = None, **query: object) -> dict:
        try:
            answer = client.get(API + path, query_string=query, headers=headers or {})
        except Exception as exc:  # an engine's SQL that fails (the test app propagates errors): compared too
            got[name] = ("raised", type(exc).__name__, str(exc).splitlines()[0])
            return {}
        got[name] = (answer.status_code, answer.get_json())
        return answer.get_json() or {}

    listing = get("list", "/conversations", limit=50)
    for tab in ("unread", "unassigned", "closed", "mine"):
        get(f"list {tab}", "/conversations", headers=bearer(keys["bo"]), tab=tab, limit=50)
    get("list label", "/conversations", label="VIP", limit=50)
    for conversation in listing.get("conversations", []):
        cid = conversation["id"]
        get(f"thread {cid}", "/messages", conversation_id=cid)
        get(f"conversation {cid}", "/conversation", conversation_id=cid)
        get(f"notes {cid}", "/notes", conversation_id=cid)
    for query in ("parcel", "nunez", "cassée", "refund", "5550103", "bob"):
        get(f"search {query}", "/conversations", q=query, limit=50)
    get("stats", "/stats")
    get("labels", "/labels")
    get("agents", "/agents", headers=bearer(keys["ada"]))
    get("mentions", "/mentions", headers=bearer(keys["bo"]))
    events = get("events", "/events", after=0, limit=500).get("events", [])
    for merged in sorted({e["merged_from"] for e in events if e["merged_from"]}):
        get(f"merged away {merged}", "/conversation", conversation_id=merged)  # 404 with merged_into
    get("health", "/health")
    status, health = got["health"]  # type: ignore[misc]
    if isinstance(health, dict) and health.get("health"):
        health["health"].pop("checked_at", None)  # the time of the request itself
    return got


def test_an_inbox_copied_to_postgresql_answers_as_it_did_on_sqlite(source, graph, target, sqlite_settings):
    keys = filled(source, graph)
    before = answers(source, keys)
    result = copy(source, target)
    assert result.exit_code == 0, result.output
    summary = result.output.splitlines()
    for table in ("whatsapp_conversations", "whatsapp_messages", "events", "labels", "conversation_labels", "notes"):
        [line] = [line for line in summary if line.split()[:1] == [table]]
        assert line.split()[1] == line.split()[2] != "0" and line.endswith("ok"), line
    for counted in ("conversation_counts (rows)", "label_counts (rows)", "webhook_delivery_counts (rows)"):
        assert any(line.startswith(counted) and line.endswith("same") for line in summary), result.output
    assert "MISMATCH" not in result.output and "every table and count matches" in summary[-1]

    copied = create_app({**sqlite_settings, "DATABASE_URL": target, "DATABASE_PATH": "/nonexistent/unused"})
    try:
        after = answers(copied, keys)
        differing = sorted(name for name in before if before[name] != after.get(name))
        assert differing == [], "\n".join(f"{name}: {before[name]!r} != {after.get(name)!r}" for name in differing)
        # and it goes on: a new customer gets a new conversation and message id past the copied ones
        client = copied.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
        customer_writes(client, "Hello from a new customer", wa_id="14155550199", name="Eve New")
        listed = client.get(f"{API}/conversations", query_string={"limit": 100}).get_json()["conversations"]
        [eve] = [c for c in listed if c["contact_name"] == "Eve New"]
        ids = [c["id"] for c in before["list"][1]["conversations"]]  # type: ignore[index]
        assert eve["id"] > max(ids) and len(listed) == len(ids) + 1
    finally:
        copied.extensions["media"].stop()
        copied.extensions["away_reply"].stop()


def test_the_copy_moves_every_identity_past_the_ids_it_copied(source, graph, target):
    filled(source, graph)
    assert copy(source, target).exit_code == 0
    with psycopg.connect(target) as conn:
        tables = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND is_identity = 'YES'"
        ).fetchall()
        assert len(tables) >= 10
        merged = conn.execute("SELECT MAX(merged_from) FROM events").fetchone()[0]
        for table, column in tables:
            largest = conn.execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}").fetchone()[0]
            if table == "whatsapp_conversations":  # past the merged-away id too, the highest given
                assert merged > largest
                largest = merged
            following = conn.execute("SELECT nextval(pg_get_serial_sequence(%s, %s))", (table, column)).fetchone()[0]
            assert following == largest + 1, (table, largest, following)


def test_a_database_that_already_holds_an_inbox_is_refused_and_left_alone(source, graph, target):
    filled(source, graph)
    assert copy(source, target).exit_code == 0
    with psycopg.connect(target) as conn:
        before = conn.execute("SELECT COUNT(*) FROM whatsapp_messages").fetchone()[0]
    again = copy(source, target)
    assert again.exit_code != 0 and "Traceback" not in again.output
    [line] = [line for line in again.output.splitlines() if line.startswith("Error:")]
    assert "already holds" in line and "empty database only" in line and ":wa@" not in line  # password hidden
    with psycopg.connect(target) as conn:
        assert conn.execute("SELECT COUNT(*) FROM whatsapp_messages").fetchone()[0] == before > 0


def test_an_app_that_started_on_the_empty_database_first_does_not_stop_the_copy(source, graph, target, settings):
    filled(source, graph)
    early = create_app({**settings, "DATABASE_URL": target})  # its schema, seeded counts, its own secrets
    early.extensions["media"].stop()
    early.extensions["away_reply"].stop()
    early.extensions["database"].close()
    secrets_of = "SELECT name, value FROM service_secrets ORDER BY name"
    with psycopg.connect(target) as conn:
        made_early = conn.execute(secrets_of).fetchall()
    result = copy(source, target)
    assert result.exit_code == 0, result.output
    assert "every table and count matches" in result.output
    counts = "SELECT total, open, assigned, closed, unread, unread_active, unassigned_active FROM conversation_counts"
    with source.extensions["database"].connection() as lite, psycopg.connect(target) as conn:
        assert [tuple(lite.execute(counts).fetchone())] == conn.execute(counts).fetchall()  # counted once
        kept = conn.execute(secrets_of).fetchall()
        assert kept == [tuple(row) for row in lite.execute(secrets_of)] and made_early and kept != made_early


def test_a_copy_that_does_not_match_is_rolled_back_and_exits_non_zero(source, graph, target):
    filled(source, graph)
    # A target whose schema was changed by hand: the journal's counts come back padded, so unequal.
    from whatsapp.db_postgres import PostgresDatabase

    database = PostgresDatabase(target, pool_size=1)
    database.prepare()
    database.close()
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("ALTER TABLE webhook_delivery_counts ALTER COLUMN state TYPE char(20)")
    result = copy(source, target)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert any(
        line.startswith("webhook_delivery_counts (rows)") and "MISMATCH" in line for line in result.output.splitlines()
    )
    assert result.output.strip().splitlines()[-1].startswith("Error: ") and "rolled back" in result.output
    with psycopg.connect(target) as conn:
        assert conn.execute("SELECT COUNT(*) FROM whatsapp_messages").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 0


def test_text_holding_a_nul_is_copied_and_read_back_as_it_was(source, graph, target, sqlite_settings):
    """SQLite keeps a NUL in text and PostgreSQL's text cannot: pg.py escapes it, so the copy holds
    the customer's text exactly and the PostgreSQL app answers it as the SQLite one did."""
    filled(source, graph)
    client = source.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
    raw = json.dumps(text_message("nul \u0000 inside", wa_id="14155550177", timestamp=now_ts() - 2)).encode()
    assert post_webhook(client, raw).status_code == 200
    result = copy(source, target)
    assert result.exit_code == 0, result.output
    with psycopg.connect(target) as conn:
        stored = conn.execute("SELECT message_text FROM whatsapp_messages WHERE message_text LIKE 'nul %'").fetchone()
    assert stored is not None and "\x00" not in stored[0]  # escaped in the database itself
    copied = create_app({**sqlite_settings, "DATABASE_URL": target})
    try:
        reader = copied.test_client()
        reader.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
        listed = reader.get("/api/whatsapp/conversations?limit=100").get_json()["conversations"]
        [conversation] = [c for c in listed if c["phone_number"] == "+14155550177"]
        thread = reader.get(f"/api/whatsapp/messages?conversation_id={conversation['id']}").get_json()["messages"]
        assert [m["text"] for m in thread] == ["nul \x00 inside"]
    finally:
        copied.extensions["database"].close()


def test_a_missing_sqlite_file_or_a_bad_url_is_one_clear_line(sqlite_settings, tmp_path, pg_server_url):
    app = create_app({**sqlite_settings, "DATABASE_PATH": str(tmp_path / "inbox.sqlite3")})
    try:
        bad = copy(app, "mysql://somewhere/db")
        assert bad.exit_code != 0 and bad.output.strip() == "Error: URL must be a postgresql:// URL"
        unreachable = copy(app, "postgresql://wa:secret@127.0.0.1:1/none")
        assert unreachable.exit_code != 0 and "Traceback" not in unreachable.output
        [line] = unreachable.output.strip().splitlines()
        assert line.startswith("Error: Cannot use the PostgreSQL database") and "secret" not in line
    finally:
        app.extensions["media"].stop()
        app.extensions["away_reply"].stop()
    gone = create_app({**sqlite_settings, "DATABASE_PATH": str(tmp_path / "other.sqlite3")})
    try:
        (tmp_path / "other.sqlite3").unlink()
        missing = copy(gone, pg_server_url)
        assert missing.exit_code != 0 and missing.output.strip().startswith("Error: No SQLite inbox at")
    finally:
        gone.extensions["media"].stop()
        gone.extensions["away_reply"].stop()
