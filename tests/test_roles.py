"""Agents are admins or agents (issue 15): admins manage the team (agents, labels, canned replies),
as the service key and the CLI can; an agent's key or session gets a 403 on those routes."""

from __future__ import annotations

import sqlite3

import pytest
from flask import jsonify

from whatsapp.auth import admin_required

from .helpers import AGENT_KEY
from .helpers import agent_key as key_of


@pytest.fixture
def manage(app):
    """An admin-only route (the issue's settings routes use the same decorator)."""

    @admin_required("manage labels")
    def view():
        return jsonify(success=True)

    app.add_url_rule("/api/whatsapp/_test_admin_only", "test_admin_only", view)
    return "/api/whatsapp/_test_admin_only"


def test_an_admin_created_with_the_cli_may_manage_and_an_agent_may_not(app, anon, runner, manage):
    admin, agent = key_of(runner, "Ada", "--admin"), key_of(runner, "Bo")
    assert anon.get(manage, headers={"Authorization": f"Bearer {admin}"}).status_code == 200
    refused = anon.get(manage, headers={"Authorization": f"Bearer {agent}"})
    assert refused.status_code == 403
    assert refused.get_json() == {
        "success": False,
        "error": "Only an admin can manage labels; ask an admin of this inbox",
    }
    assert anon.get(manage, headers={"Authorization": f"Bearer {AGENT_KEY}"}).status_code == 200  # the service
    me = anon.get("/api/whatsapp/me", headers={"Authorization": f"Bearer {agent}"}).get_json()
    assert me["agent"]["role"] == "agent"


def test_set_agent_role_promotes_and_demotes(app, anon, runner, manage):
    key = key_of(runner, "Bo")
    assert runner.invoke(args=["set-agent-role", "1", "admin"]).exit_code == 0
    assert anon.get(manage, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert runner.invoke(args=["set-agent-role", "1", "agent"]).exit_code == 0
    assert anon.get(manage, headers={"Authorization": f"Bearer {key}"}).status_code == 403
    assert runner.invoke(args=["set-agent-role", "9", "admin"]).exit_code != 0
    assert "1\tBo\tagent\tactive" in runner.invoke(args=["list-agents"]).output


@pytest.mark.sqlite_only  # an SQLite file made before roles, upgraded by ADDED_COLUMNS (PRAGMA table_info)
def test_an_agents_table_from_before_roles_gains_the_column(tmp_path):
    from whatsapp import db

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE agents (agent_id INTEGER PRIMARY KEY, name TEXT NOT NULL, key_hash TEXT UNIQUE NOT NULL, "
            "created_at TIMESTAMP NOT NULL, active INTEGER NOT NULL DEFAULT 1)"
        )
        conn.execute("INSERT INTO agents (name, key_hash, created_at) VALUES ('Old', 'h', '2026-01-01 00:00:00')")
    db.Database(str(path)).prepare()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name, role FROM agents").fetchall() == [("Old", "agent")]
