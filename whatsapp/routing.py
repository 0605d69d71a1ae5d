"""Auto-assignment rules: who gets a conversation that waits for an agent.

The `routing` setting (store/settings.py), set by admins: `mode` off | round_robin | least_loaded,
`capacity` (the most open assigned conversations an agent takes automatically, default 10),
`capacities` (per-agent overrides, {agent_id: n}) and `returning_customer` (a closed conversation the
customer reopens goes back to the agent who had it, if online and under capacity).

Everything here runs inside the caller's write transaction (BEGIN IMMEDIATE serialises writers across
gunicorn workers and the webhook writer process), as pure SQL on its connection, so two workers can
never both give an agent their last free place, and round-robin turns (agent_routing) stay even.

When: a customer's message (store/inbound.py) to an individual conversation that is open with nobody
assigned (a new customer, one who wrote again), or to a closed one it reopens (then its previous agent
is released and the rules decide again); never for imported history or echoes (they are not stored
through store_inbound), never for group threads (a team space, not a customer's). Waiting
conversations are drained, oldest customer message first, whenever an agent may have room: a heartbeat
(an agent coming online, back from away, or any online agent's heartbeat after opening time), a close,
an unassign or a reassignment, and a change of the rules. Outside business hours nothing is assigned.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import business_hours
from .store import routing as sql
from .store import stamp
from .store.settings import parsed_setting

log = logging.getLogger(__name__)

SETTING = "routing"
MODES = ("off", "round_robin", "least_loaded")
DEFAULT_CAPACITY = 10
MAX_CAPACITY = 1000
REASONS = {"round_robin": "round-robin", "least_loaded": "least-loaded"}


class RoutingError(ValueError):
    """Rules that cannot be used; the message says which part and why."""


@dataclass(frozen=True)
class Rules:
    mode: str = "off"
    capacity: int = DEFAULT_CAPACITY
    capacities: dict[int, int] = field(default_factory=dict)
    returning_customer: bool = False

    def capacity_of(self, agent_id: int) -> int:
        return self.capacities.get(agent_id, self.capacity)

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "capacity": self.capacity,
            "capacities": {str(k): v for k, v in sorted(self.capacities.items())},
            "returning_customer": self.returning_customer,
        }


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CAPACITY:
        raise RoutingError(f"{name} must be a whole number from 0 to {MAX_CAPACITY}")
    return value


def parse(data: Any, agent_ids: set[int] | None = None) -> Rules:
    """Rules from their JSON form (as PUT /routing takes it); `agent_ids`: the agents capacities may name."""
    if not isinstance(data, dict):
        raise RoutingError("the rules must be a JSON object")
    unknown = set(data) - {"mode", "capacity", "capacities", "returning_customer"}
    if unknown:
        raise RoutingError(f"unknown field {sorted(unknown)[0]!r} (mode, capacity, capacities, returning_customer)")
    mode = data.get("mode", "off")
    if mode not in MODES:
        raise RoutingError(f"mode must be one of {', '.join(MODES)}")
    capacity = _count(data.get("capacity", DEFAULT_CAPACITY), "capacity")
    raw = data.get("capacities", {})
    if not isinstance(raw, dict):
        raise RoutingError("capacities must be an object of agent id -> capacity")
    capacities: dict[int, int] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key.isdigit() or len(key) > 12:
            raise RoutingError(f"capacities: {key!r} is not an agent id")
        agent_id = int(key)
        if agent_ids is not None and agent_id not in agent_ids:
            raise RoutingError(f"capacities: agent {agent_id} is not an active agent")
        capacities[agent_id] = _count(value, f"capacities[{key}]")
    returning = data.get("returning_customer", False)
    if not isinstance(returning, bool):
        raise RoutingError("returning_customer must be true or false")
    return Rules(mode=mode, capacity=capacity, capacities=capacities, returning_customer=returning)


def load(conn: sqlite3.Connection) -> Rules:
    """The stored rules (off when none were set, or unreadable ones of an older version)."""
    return parsed_setting(conn, SETTING, _stored) or Rules()


def _stored(value: dict[str, Any]) -> Rules:
    try:
        return parse(value)
    except RoutingError:
        return Rules()


@dataclass
class _Candidate:
    agent_id: int
    load: int
    turn: int
    capacity: int

    @property
    def free(self) -> bool:
        return self.load < self.capacity


def _candidates(conn: sqlite3.Connection, rules: Rules, moment: str) -> list[_Candidate]:
    return [
        _Candidate(int(r["agent_id"]), int(r["load"]), int(r["turn"]), rules.capacity_of(int(r["agent_id"])))
        for r in sql.candidates(conn, moment)
    ]


def _pick(rules: Rules, team: list[_Candidate]) -> _Candidate | None:
    free = [c for c in team if c.free]
    if not free:
        return None
    if rules.mode == "least_loaded":
        return min(free, key=lambda c: (c.load, c.turn, c.agent_id))
    return min(free, key=lambda c: (c.turn, c.agent_id))


def _give(conn: sqlite3.Connection, conversation_id: int, chosen: _Candidate, reason: str, turns: list[int]) -> bool:
    if not sql.auto_assign(conn, conversation_id, chosen.agent_id, reason):
        return False
    chosen.load += 1
    turns[0] += 1
    chosen.turn = turns[0]
    log.info("Conversation %s auto-assigned to agent %s (%s)", conversation_id, chosen.agent_id, reason)
    return True


def drain(
    conn: sqlite3.Connection, at: datetime | None = None, *, newcomer: int | None = None, exclude: int | None = None
) -> int:
    """Give waiting conversations to agents with room, oldest first; returns how many were given.
    `newcomer`: the conversation a customer just wrote in (its reason is the mode's, not "backlog");
    `exclude`: a conversation this drain leaves waiting (an agent just unassigned it)."""
    rules = load(conn)
    if rules.mode == "off":
        return 0
    moment = at or datetime.now(UTC)
    if not business_hours.is_open_now(conn, moment):
        return 0
    moment_text = stamp(moment)
    team = _candidates(conn, rules, moment_text)
    room = sum(max(c.capacity - c.load, 0) for c in team)
    if room == 0:
        return 0
    turns = [max((c.turn for c in team), default=0)]
    turns[0] = max(turns[0], _max_turn(conn))
    given = 0
    for conversation_id in sql.waiting(conn, moment_text, room + (exclude is not None)):
        if conversation_id == exclude:
            continue
        chosen = _pick(rules, team)
        if chosen is None:
            break
        reason = REASONS[rules.mode] if conversation_id == newcomer else "backlog"
        given += _give(conn, conversation_id, chosen, reason, turns)
    return given


def _max_turn(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(turn), 0) FROM agent_routing").fetchone()[0])


def customer_wrote(conn: sqlite3.Connection, conversation_id: int, before: sqlite3.Row) -> None:
    """After a customer's message was stored (store_inbound, same transaction). `before`: the
    conversation's status, assigned_agent_id and kind before the message."""
    if before["kind"] != "individual":
        return
    reopened = before["status"] == "closed"
    previous = before["assigned_agent_id"]
    rules = load(conn)
    if rules.mode == "off":
        return  # as without routing: a reopened conversation goes back to its agent
    if not reopened and previous is not None and sql.agent_active(conn, previous):
        return  # an agent has it (one deactivated since has nothing: routed again, as a reopened one)
    if previous is not None:
        sql.release(conn, conversation_id)
    moment = datetime.now(UTC)
    if previous is not None and rules.returning_customer and business_hours.is_open_now(conn, moment):
        team = _candidates(conn, rules, stamp(moment))
        chosen = next((c for c in team if c.agent_id == previous and c.free), None)
        if chosen is not None:
            turns = [_max_turn(conn)]
            _give(conn, conversation_id, chosen, "returning customer", turns)
            return
    drain(conn, moment, newcomer=conversation_id)
