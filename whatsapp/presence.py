"""Agents' presence: online, away or offline, from the dashboard's heartbeats (every 20 s).

An agent is online while their last heartbeat is younger than PRESENCE_TIMEOUT_SECONDS (the row keeps
the moment it runs out, `online_until`, so any process can read presence without the setting); away
when they said so by hand (it stays until they change it); offline otherwise. State is computed at
read time: nothing has to run when a heartbeat stops. A `presence.updated` event (agent_id, detail
{"state"}) is emitted when a heartbeat changes an agent's state (coming online, going away, back),
never for a heartbeat that changes nothing; going offline is seen by readers when the time runs out.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from .store import emit, stamp
from .store.presence import online_ids, presence_of_agents, presence_row, record_heartbeat

State = Literal["online", "away", "offline"]
DEFAULT_TIMEOUT = 60


def state_of(away: int | None, online_until: str | None, moment: str) -> State:
    if online_until is None or online_until <= moment:
        return "offline"
    return "away" if away else "online"


def online_agent_ids(conn: sqlite3.Connection, at: datetime | None = None) -> list[int]:
    """The active agents online at `at` (default now): heartbeat fresh and not away."""
    return online_ids(conn, stamp(at or datetime.now(UTC)))


@dataclass(frozen=True)
class Change:
    before: State
    after: State

    @property
    def changed(self) -> bool:
        return self.before != self.after


def heartbeat(
    conn: sqlite3.Connection,
    agent_id: int,
    *,
    away: bool | None = None,
    timeout: int = DEFAULT_TIMEOUT,
    at: datetime | None = None,
) -> Change:
    """Record a heartbeat (inside a write transaction) and emit presence.updated if the state changed."""
    moment = at or datetime.now(UTC)
    now_text = stamp(moment)
    row = presence_row(conn, agent_id)
    before = state_of(row["away"], row["online_until"], now_text) if row else "offline"
    record_heartbeat(conn, agent_id, now_text, stamp(moment + timedelta(seconds=timeout)), away)
    still_away = away if away is not None else bool(row["away"]) if row else False
    after: State = "away" if still_away else "online"  # a heartbeat just now: not offline
    change = Change(before, after)
    if change.changed:
        emit(conn, "presence.updated", None, agent_id=agent_id, detail={"state": after})
    return change


def team(conn: sqlite3.Connection, at: datetime | None = None) -> list[dict[str, object]]:
    """Every active agent: their state and when their dashboard was last seen."""
    moment = stamp(at or datetime.now(UTC))
    return [
        {
            "agent_id": int(row["agent_id"]),
            "name": row["name"],
            "state": state_of(row["away"], row["online_until"], moment),
            "away": bool(row["away"]),
            "last_seen_at": row["last_seen_at"],
        }
        for row in presence_of_agents(conn)
    ]
