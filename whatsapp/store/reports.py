"""Report tables kept at write time: response waits, resolutions and daily counts (see schema.sql).

Every writer here runs inside the caller's transaction (a webhook delivery, possibly in the writer
process, a send, a close), as plain SQL on its connection, so the figures exist iff their change does.
GET /reports reads these small tables by their time indexes, never whatsapp_messages.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .common import now, one

COUNTERS = ("messages_in", "messages_out", "opened", "closed")
NO_AGENT = 0  # report_daily's agent for counts that have none (unassigned, the service key)


def schedule(conn: sqlite3.Connection) -> Any:
    """The business hours (business_hours.Schedule) or None; one settings row."""
    from ..business_hours import load  # business_hours reads settings through this package

    return load(conn)


def zone(conn: sqlite3.Connection, hours: Any = False) -> ZoneInfo:
    """The zone whose days reports count in: the business hours' zone, UTC without a schedule."""
    hours = schedule(conn) if hours is False else hours
    return hours.zone if hours is not None else ZoneInfo("UTC")


def parse_stamp(value: str) -> datetime:
    """A stored stamp ('YYYY-MM-DD HH:MM:SS', UTC) as an aware datetime (fromisoformat: strptime cost
    a tenth of a millisecond on every inbound message)."""
    return datetime.fromisoformat(value[:19]).replace(tzinfo=UTC)


def local_day(moment: str, tz: ZoneInfo) -> str:
    """The local day a stamp falls on; the day only changes with the minute (zones are whole minutes)."""
    return _local_day(moment[:16], tz)


@functools.lru_cache(maxsize=4096)
def _local_day(minute: str, tz: ZoneInfo) -> str:
    return parse_stamp(minute + ":00").astimezone(tz).date().isoformat()


def day_start(day: date, tz: ZoneInfo) -> str:
    """The UTC stamp of local midnight starting this day."""
    local = datetime(day.year, day.month, day.day, tzinfo=tz)
    return local.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _in_hours(hours: Any, moment: str) -> int:
    return 1 if hours is None or hours.is_open(parse_stamp(moment)) else 0


def count(conn: sqlite3.Connection, moment: str, agent_id: int | None, column: str, hours: Any = False) -> None:
    """Add one to a daily counter of the day `moment` (a stored UTC stamp) falls on, for this agent
    (`hours`: the schedule when the caller has read it already)."""
    if column not in COUNTERS:
        raise ValueError(column)
    conn.execute(
        f"""INSERT INTO report_daily (day, agent_id, {column}) VALUES (?, ?, 1)
            ON CONFLICT (day, agent_id) DO UPDATE SET {column} = report_daily.{column} + 1""",
        (local_day(moment, zone(conn, hours)), agent_id or NO_AGENT),
    )


def _conversation(conn: sqlite3.Connection, conversation_id: int) -> sqlite3.Row | None:
    return one(
        conn,
        "SELECT status, assigned_agent_id, group_id FROM whatsapp_conversations WHERE conversation_id = ?",
        conversation_id,
    )


def open_resolution(
    conn: sqlite3.Connection, conversation_id: int, at: str, agent_id: int | None, hours: Any = False
) -> None:
    """A conversation (re)opens: a resolution starts unless one is running; counted as opened."""
    hours = schedule(conn) if hours is False else hours
    cur = conn.execute(
        """INSERT INTO conversation_resolutions (conversation_id, opened_at, in_hours) VALUES (?, ?, ?)
           ON CONFLICT DO NOTHING""",
        (conversation_id, at, _in_hours(hours, at)),
    )
    if cur.rowcount == 1:
        count(conn, at, agent_id, "opened", hours)


def customer_wrote(conn: sqlite3.Connection, conversation_id: int, at: str, *, waits: bool) -> None:
    """An inbound message was stored (`at`: its webhook time). `waits`: a customer's own message (not a
    reaction or a system notice) in a customer's thread, which opens a wait and a resolution."""
    conv = _conversation(conn, conversation_id)
    if conv is None:
        return
    agent_id, hours = conv["assigned_agent_id"], schedule(conn)
    count(conn, at, agent_id, "messages_in", hours)
    if not waits or conv["group_id"] is not None:
        return
    # One open wait a conversation (the partial unique index); a message that arrives late but was
    # written earlier moves its start back.
    conn.execute(
        """INSERT INTO response_waits (conversation_id, customer_at, in_hours) VALUES (?, ?, ?)
           ON CONFLICT (conversation_id) WHERE answered_at IS NULL DO UPDATE SET
             in_hours = CASE WHEN excluded.customer_at < response_waits.customer_at
                             THEN excluded.in_hours ELSE response_waits.in_hours END,
             customer_at = CASE WHEN excluded.customer_at < response_waits.customer_at
                                THEN excluded.customer_at ELSE response_waits.customer_at END""",
        (conversation_id, at, _in_hours(hours, at)),
    )
    open_resolution(conn, conversation_id, at, agent_id, hours)


def reply_accepted(conn: sqlite3.Connection, message: sqlite3.Row) -> None:
    """Meta took an outbound message of this inbox (`message`: its row as it was before). Counted once,
    while it still had its local id. An agent's reply (a sender agent; not a reaction, not an automatic
    reply) answers the conversation's open wait, timed when the agent sent it."""
    from .common import LOCAL_PREFIX

    if not str(message["whatsapp_message_id"]).startswith(LOCAL_PREFIX):
        return
    if message["message_type"] in ("reaction", "edit", "revoke"):
        return
    automatic = "automatic" in message.keys() and bool(message["automatic"])
    agent_id = None if automatic else message["agent_id"]
    sent_at = message["created_at"]
    count(conn, sent_at, agent_id, "messages_out")
    if agent_id is None or message["group_id"] is not None:
        return
    conn.execute(
        """UPDATE response_waits SET answered_at = ?, agent_id = ?
           WHERE conversation_id = ? AND answered_at IS NULL AND customer_at <= ?""",
        (sent_at, agent_id, message["conversation_id"], sent_at),
    )


def answered_in_app(conn: sqlite3.Connection, conversation_id: int, at: str) -> None:
    """The owner answered from the WhatsApp Business app (coexistence echo): the wait ends, but it is
    no agent's response and is left out of response times (counted as answered_in_app)."""
    conn.execute(
        """UPDATE response_waits SET answered_at = ?, answered_in_app = 1
           WHERE conversation_id = ? AND answered_at IS NULL AND customer_at <= ?""",
        (at, conversation_id, at),
    )


def status_changing(conn: sqlite3.Connection, conversation_id: int, status: str) -> None:
    """Before store.set_status: a close ends the running resolution (for the conversation's agent) and
    drops an unanswered wait; an agent's reopen of a closed conversation starts a resolution."""
    conv = _conversation(conn, conversation_id)
    if conv is None or conv["group_id"] is not None:
        return
    closing = status == "closed"
    if closing == (conv["status"] == "closed"):
        return
    at, agent_id = now(), conv["assigned_agent_id"]
    if not closing:
        open_resolution(conn, conversation_id, at, agent_id)
        return
    conn.execute(
        """UPDATE conversation_resolutions SET closed_at = ?, agent_id = ?
           WHERE conversation_id = ? AND closed_at IS NULL""",
        (at, agent_id, conversation_id),
    )
    # Closed without an answer: the customer is no longer waiting. The wait ends untimed (it would
    # otherwise run on until an answer after the customer next writes, days later).
    conn.execute("DELETE FROM response_waits WHERE conversation_id = ? AND answered_at IS NULL", (conversation_id,))
    count(conn, at, agent_id, "closed")


def merged(conn: sqlite3.Connection, keep: int, drop: int) -> None:
    """Conversation `drop` folds into `keep`: its rows move; of two open waits (or resolutions) the
    earlier start is kept."""
    for table, start, end in (
        ("response_waits", "customer_at", "answered_at"),
        ("conversation_resolutions", "opened_at", "closed_at"),
    ):
        theirs = one(conn, f"SELECT {start} FROM {table} WHERE conversation_id = ? AND {end} IS NULL", drop)
        ours = one(conn, f"SELECT {start} FROM {table} WHERE conversation_id = ? AND {end} IS NULL", keep)
        if theirs is not None and ours is not None:
            conn.execute(f"DELETE FROM {table} WHERE conversation_id = ? AND {end} IS NULL", (drop,))
            if theirs[0] < ours[0]:
                conn.execute(
                    f"UPDATE {table} SET {start} = ? WHERE conversation_id = ? AND {end} IS NULL", (theirs[0], keep)
                )
        conn.execute(f"UPDATE {table} SET conversation_id = ? WHERE conversation_id = ?", (keep, drop))


# --- reads ---------------------------------------------------------------------------------------


def waits_between(conn: sqlite3.Connection, start: str, end: str, agent_id: int | None) -> list[sqlite3.Row]:
    """Waits that began in [start, end) (UTC stamps), through the customer_at index."""
    sql = """SELECT customer_at, answered_at, in_hours, agent_id, answered_in_app FROM response_waits
             WHERE customer_at >= ? AND customer_at < ?"""
    params: list[Any] = [start, end]
    if agent_id is not None:
        sql += " AND agent_id = ?"
        params.append(agent_id)
    return conn.execute(sql, params).fetchall()


def resolutions_between(conn: sqlite3.Connection, start: str, end: str, agent_id: int | None) -> list[sqlite3.Row]:
    """Resolutions closed in [start, end), through the closed_at index."""
    sql = """SELECT opened_at, closed_at, in_hours, agent_id FROM conversation_resolutions
             WHERE closed_at >= ? AND closed_at < ?"""
    params: list[Any] = [start, end]
    if agent_id is not None:
        sql += " AND agent_id = ?"
        params.append(agent_id)
    return conn.execute(sql, params).fetchall()


def daily_between(conn: sqlite3.Connection, first: str, last: str, agent_id: int | None) -> list[sqlite3.Row]:
    """Daily counts of the days first..last (YYYY-MM-DD), a range of the primary key."""
    sql = "SELECT * FROM report_daily WHERE day >= ? AND day <= ?"
    params: list[Any] = [first, last]
    if agent_id is not None:
        sql += " AND agent_id = ?"
        params.append(agent_id)
    return conn.execute(sql, params).fetchall()


def open_waits(conn: sqlite3.Connection, conversation_ids: Iterable[int]) -> dict[int, str]:
    """The running wait's start of each of these conversations (a page of the list), in one query."""
    ids = list(conversation_ids)
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        f"SELECT conversation_id, customer_at FROM response_waits WHERE conversation_id IN ({marks})"
        " AND answered_at IS NULL",
        ids,
    )
    return {int(row[0]): row[1] for row in rows}


def due_at(customer_at: str, minutes: int) -> str:
    return (parse_stamp(customer_at) + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S")


# --- backfill ------------------------------------------------------------------------------------


def backfill(conn: sqlite3.Connection) -> dict[str, int] | None:
    """Derive waits and the daily message counts from the stored messages, once (None when the report
    tables hold figures already). Call inside a write transaction. Resolutions, opened and closed are
    not derived: when a conversation was closed is not kept with its messages. Reads every message:
    for the CLI (`flask backfill-reports`), never a request."""
    if one(conn, "SELECT 1 FROM response_waits") or one(conn, "SELECT 1 FROM report_daily"):
        return None
    hours = schedule(conn)
    tz = zone(conn, hours)
    counts: dict[tuple[str, int, str], int] = {}
    waits = 0
    open_since: dict[int, str] = {}
    rows = conn.execute(
        """SELECT m.conversation_id, m.direction, m.message_type, m.timestamp, m.created_at, m.agent_id,
                  m.origin, m.status, m.whatsapp_message_id, c.group_id, c.assigned_agent_id
           FROM whatsapp_messages m JOIN whatsapp_conversations c ON c.conversation_id = m.conversation_id
           ORDER BY m.conversation_id, m.timestamp, m.message_id"""
    )
    for row in rows:
        if row["message_type"] in ("reaction", "edit", "revoke") or row["origin"] == "history":
            continue
        cid = int(row["conversation_id"])
        if row["direction"] == "inbound":
            key = (local_day(row["timestamp"], tz), row["assigned_agent_id"] or NO_AGENT, "messages_in")
            counts[key] = counts.get(key, 0) + 1
            if row["message_type"] != "system" and row["group_id"] is None and cid not in open_since:
                open_since[cid] = row["timestamp"]
            continue
        if row["origin"] == "business_app":
            if cid in open_since:
                _backfilled_wait(conn, cid, open_since.pop(cid), hours, row["timestamp"], None, in_app=True)
                waits += 1
            continue
        from .common import LOCAL_PREFIX

        if row["status"] in ("pending", "failed") or str(row["whatsapp_message_id"]).startswith(LOCAL_PREFIX):
            continue
        key = (local_day(row["created_at"], tz), row["agent_id"] or NO_AGENT, "messages_out")
        counts[key] = counts.get(key, 0) + 1
        if row["agent_id"] is not None and cid in open_since and open_since[cid] <= row["created_at"]:
            _backfilled_wait(conn, cid, open_since.pop(cid), hours, row["created_at"], row["agent_id"])
            waits += 1
    for cid, since in open_since.items():
        _backfilled_wait(conn, cid, since, hours, None, None)
        waits += 1
    for (day, agent_id, column), value in counts.items():
        conn.execute(
            f"""INSERT INTO report_daily (day, agent_id, {column}) VALUES (?, ?, ?)
                ON CONFLICT (day, agent_id) DO UPDATE SET {column} = report_daily.{column} + excluded.{column}""",
            (day, agent_id, value),
        )
    return {"waits": waits, "daily_rows": len({(d, a) for d, a, _ in counts})}


def _backfilled_wait(
    conn: sqlite3.Connection,
    conversation_id: int,
    since: str,
    hours: Any,
    answered_at: str | None,
    agent_id: int | None,
    *,
    in_app: bool = False,
) -> None:
    conn.execute(
        """INSERT INTO response_waits (conversation_id, customer_at, in_hours, answered_at, agent_id, answered_in_app)
           VALUES (?, ?, ?, ?, ?, ?)""",
        (conversation_id, since, _in_hours(hours, since), answered_at, agent_id, 1 if in_app else 0),
    )
