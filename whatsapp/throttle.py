"""Failed key attempts per client address, kept in SQLite so that every gunicorn worker counts them.

An attempt first reads its address's row (one primary-key lookup); only a failure writes. After
`limit` failures within `window` seconds the address is locked out for `window` seconds, twice as long
at each lockout in a row (up to MAX_LOCKOUT): every attempt from it, right key or wrong, is then
refused until the lockout ends, so guessing gets no faster by ignoring the 429s.
"""

from __future__ import annotations

import ipaddress
import math
import sqlite3
import time
from dataclasses import dataclass

from .db import write_transaction

MAX_LOCKOUT = 3600.0


def clock() -> float:
    """Unix time; tests move it forward instead of sleeping."""
    return time.time()


@dataclass(frozen=True)
class Policy:
    limit: int  # failures per window; 0: no limit
    window: float  # seconds


def address_key(address: str | None) -> str:
    """What is counted: an IPv4 address, or the /64 an IPv6 address belongs to (one host's share).
    A port a proxy left on a forwarded address ("1.2.3.4:5678", "[2001:db8::1]:443") is dropped."""
    text = (address or "").strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def locked_for(conn: sqlite3.Connection, key: str) -> int:
    """Whole seconds the address is still locked out (0: it may try)."""
    row = conn.execute("SELECT locked_until FROM auth_failures WHERE address = ?", (key,)).fetchone()
    if row is None:
        return 0
    left = float(row["locked_until"]) - clock()
    return math.ceil(left) if left > 0 else 0


def record_failure(conn: sqlite3.Connection, key: str, policy: Policy) -> int:
    """Count one failure; returns the seconds of the lockout it started, 0 when it started none."""
    if policy.limit <= 0:
        return 0
    moment = clock()
    lockout = 0
    with write_transaction(conn):
        row = conn.execute("SELECT * FROM auth_failures WHERE address = ?", (key,)).fetchone()
        if row is None:
            # A new address: also forget the ones quiet for longer than any lockout.
            conn.execute(
                "DELETE FROM auth_failures WHERE window_start < ? AND locked_until < ?",
                (moment - MAX_LOCKOUT - policy.window, moment - MAX_LOCKOUT),
            )
            failures, start, lockouts = 1, moment, 0
        elif moment - row["window_start"] >= policy.window:
            failures, start = 1, moment
            # A lockout streak ends when the address has been quiet for as long as the longest lockout.
            lockouts = row["lockouts"] if moment - row["locked_until"] < MAX_LOCKOUT else 0
        else:
            failures, start, lockouts = row["failures"] + 1, row["window_start"], row["lockouts"]
        locked_until = row["locked_until"] if row is not None else 0.0
        if failures >= policy.limit:
            lockout = math.ceil(min(policy.window * 2 ** min(lockouts, 20), MAX_LOCKOUT))
            lockouts, failures, start, locked_until = lockouts + 1, 0, moment, moment + lockout
        conn.execute(
            "INSERT INTO auth_failures (address, failures, window_start, lockouts, locked_until)"
            " VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (address) DO UPDATE SET failures = excluded.failures,"
            " window_start = excluded.window_start, lockouts = excluded.lockouts,"
            " locked_until = excluded.locked_until",
            (key, failures, start, lockouts, locked_until),
        )
    return lockout
