"""From a verified webhook body to stored rows: the body is journaled in the same transaction that
processes it, with the outcome ('processed', or 'failed' with the error, for replay)."""

from __future__ import annotations

import functools
import itertools
import json
import logging
import queue
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import store, surrogates
from .db import write_transaction
from .store.common import ago
from .updates import Delivery, MalformedPayload, parse_delivery

if TYPE_CHECKING:
    from .db import BaseDatabase as Database

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    delivery_id: int
    state: str
    result: store.IngestResult | None
    error: str | None


class _Failed(Exception):
    """A delivery of a batch raised (the cause): the batch is committed again one delivery at a time."""


class Unreadable(Exception):
    """A signed body this service cannot read (yet): it is journaled as failed, for a replay after a fix."""


def _no_constant(name: str) -> None:
    """NaN and Infinity are not JSON (Python's decoder takes them): read as null, so everything the
    service stores and answers stays valid JSON."""
    return None


def decode(body: bytes) -> Any:
    """The JSON of a webhook body; MalformedPayload when it is not a webhook envelope at all, and
    Unreadable when it may well be one that this service cannot read."""
    try:
        payload = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        raise Unreadable("the body's JSON is nested deeper than this service can read") from None
    except (ValueError, UnicodeDecodeError):
        raise MalformedPayload("the body is not JSON") from None
    if surrogates.may_hold(body):  # SQLite cannot store a lone surrogate: keep the text, mark the spot
        payload = surrogates.replace(payload)
    if not isinstance(payload, dict):
        raise MalformedPayload("the body must be a JSON object")
    if payload.get("object") != "whatsapp_business_account" or not isinstance(payload.get("entry"), list):
        raise MalformedPayload("not a WhatsApp Business Account webhook (need object and entry[])")
    return payload


@dataclass
class _Waiting:
    body: bytes
    payload: Any
    phone_number_id: str
    unreadable: str | None = None  # why the body could not be decoded: journaled as failed, not processed
    delivery: Delivery | None = None  # the payload already parsed (by the worker that received it)
    done: bool = False  # set by the leader before it lets go of the leader lock
    outcome: Outcome | None = None
    error: BaseException | None = None


class GroupCommit:
    """Deliveries that arrive together share one transaction and its fsync (group commit).

    Each request queues its delivery, then waits for the leader lock. Whoever holds it takes every
    delivery queued by then (its own among them, up to `max_batch`), journals and processes each under
    its own savepoint, commits once, and marks them done; the requests whose deliveries were taken
    find them done when their turn comes and answer 200. Each delivery stays all-or-nothing and
    none is answered before it is on disk; a lone delivery is committed by its own request thread,
    with no hand-off at all (BENCHMARKS.md).
    """

    def __init__(self, database: Database, max_batch: int = 64) -> None:
        self.database = database
        self.max_batch = max_batch
        self.queue: queue.SimpleQueue[_Waiting] = queue.SimpleQueue()
        self.leader = threading.Lock()
        self.conn: sqlite3.Connection | None = None  # used only by the leader

    def submit(self, body: bytes, payload: Any, phone_number_id: str = "", unreadable: str | None = None) -> Outcome:
        waiting = _Waiting(body, payload, phone_number_id, unreadable)
        self.queue.put(waiting)
        with self.leader:
            while not waiting.done:
                self._lead()
        if waiting.error is not None:
            raise waiting.error
        assert waiting.outcome is not None
        return waiting.outcome

    def _lead(self) -> None:
        batch: list[_Waiting] = []
        while len(batch) < self.max_batch:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        try:
            self.conn = self.conn or self.database.connect()
        except BaseException as exc:
            _batch_failed(batch, exc)
        else:
            commit_batch(self.conn, batch)
        for waiting in batch:
            waiting.done = True

    def close(self) -> None:
        """Close the leader's connection (once no delivery is in hand)."""
        with self.leader:
            conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()

    @staticmethod
    def _commit(conn: sqlite3.Connection, batch: list[_Waiting]) -> None:
        """The batch in one transaction with no savepoints (FTS5 flushes its index at each one); if
        any delivery raises, it is all rolled back and committed again a savepoint a delivery."""
        try:
            with write_transaction(conn):
                fields: Counter[str] = Counter()
                reports = []
                for waiting in batch:
                    try:
                        record = functools.partial(store.journal_insert, conn, waiting.body)
                        if waiting.unreadable is not None:
                            waiting.outcome = _keep_failed(record, waiting.unreadable)
                            continue
                        delivery, result = _apply(
                            conn, waiting.payload, waiting.phone_number_id, fields, waiting.delivery
                        )
                        waiting.outcome = _processed(delivery, result, record)
                        reports.append((waiting.outcome.delivery_id, delivery))
                    except Exception as exc:
                        raise _Failed from exc
                try:
                    store.note_fields(conn, fields)
                except Exception as exc:
                    raise _Failed from exc
        except _Failed as failed:
            log.info("A batch of %d failed (%r): committing its deliveries one by one", len(batch), failed.__cause__)
            for waiting in batch:
                waiting.outcome = None
            GroupCommit._commit_each(conn, batch)
            return
        for delivery_id, delivery in reports:
            _report(delivery_id, delivery)

    @staticmethod
    def _commit_each(conn: sqlite3.Connection, batch: list[_Waiting]) -> None:
        with write_transaction(conn):
            for waiting in batch:
                conn.execute("SAVEPOINT delivery")
                try:
                    record = functools.partial(store.journal_insert, conn, waiting.body)
                    if waiting.unreadable is not None:
                        waiting.outcome = _keep_failed(record, waiting.unreadable)
                    else:
                        waiting.outcome = _process(
                            conn, waiting.payload, waiting.phone_number_id, record, waiting.delivery
                        )
                except Exception as exc:  # a bug after processing: keep the body alone, as failed
                    conn.execute("ROLLBACK TO delivery")
                    log.exception("A delivery failed outside its processing; journaling it as failed")
                    try:
                        waiting.outcome = _keep_failed(record, f"{type(exc).__name__}: {exc}")
                    except Exception as again:  # not even journaled: this one request fails, the rest stand
                        conn.execute("ROLLBACK TO delivery")
                        waiting.error = again
                conn.execute("RELEASE delivery")


def commit_batch(conn: sqlite3.Connection, batch: list[_Waiting]) -> None:
    """Commit a batch (GroupCommit._commit): each delivery gets its outcome, or, when the commit
    itself failed, the error (none of them is on disk, none is answered 200)."""
    try:
        GroupCommit._commit(conn, batch)
    except BaseException as exc:
        _batch_failed(batch, exc)


def _batch_failed(batch: list[_Waiting], exc: BaseException) -> None:
    log.error("A batch of %d deliveries could not be committed", len(batch), exc_info=exc)
    for waiting in batch:
        waiting.outcome, waiting.error = None, exc


def receive_grouped(
    database: Database, body: bytes, payload: Any, phone_number_id: str = "", unreadable: str | None = None
) -> Outcome:
    """Journal the body and process it in the same transaction, shared with the deliveries arriving
    with it (the database's group commit in this process).

    If processing raises, its writes are rolled back to a savepoint and the body stays journaled as
    'failed' with the error, for `flask replay-webhooks`; the caller can still answer 200. A body
    that could not even be decoded (`unreadable` says why) is journaled as failed straight away.
    Raises only when the body could not be journaled at all.
    """
    return database.group_commit.submit(body, payload, phone_number_id, unreadable)


def _keep_failed(record: Callable[[str, str | None], int], error: str) -> Outcome:
    delivery_id = record("failed", error[:2000])
    log.error("Delivery %s could not be read (%s); kept in the journal for replay", delivery_id, error[:200])
    return Outcome(delivery_id, "failed", None, error)


# The journal keeps processed bodies WEBHOOK_JOURNAL_DAYS days and the event log its events
# EVENTS_RETENTION_DAYS days; each process prunes both a little after every PRUNE_EVERY deliveries it
# answers, at most PRUNE_LIMIT rows of each at a time.
PRUNE_EVERY = 500
PRUNE_LIMIT = 1000
_answered = itertools.count(1)


def prune_due() -> bool:
    """Count one answered delivery: True once every PRUNE_EVERY."""
    return next(_answered) % PRUNE_EVERY == 0


def prune(conn: sqlite3.Connection, days: int, limit: int = PRUNE_LIMIT) -> int:
    """Delete up to `limit` bodies processed more than `days` days ago (none when days is 0)."""
    return _prune(conn, days, limit, store.journal_prune, "webhook bodies processed over %d days ago from the journal")


def prune_events(conn: sqlite3.Connection, days: int, limit: int = PRUNE_LIMIT) -> int:
    """Delete up to `limit` events older than `days` days (none when days is 0), never a merge event."""
    return _prune(conn, days, limit, store.events_prune, "events older than %d days from the event log")


def _prune(
    conn: sqlite3.Connection, days: int, limit: int, delete: Callable[[sqlite3.Connection, str, int], int], what: str
) -> int:
    if days <= 0:
        return 0
    with write_transaction(conn):
        removed = delete(conn, ago(days * 24), limit)
    if removed:
        log.info("Pruned %d " + what, removed, days)
    return removed


def prune_database(database: Database, days: int, events_days: int = 0) -> None:
    """prune() and prune_events() on their own connection, for after a response has gone out; errors
    are only logged."""
    try:
        with database.connection() as conn:
            prune(conn, days)
            prune_events(conn, events_days)
    except Exception:
        log.exception("Pruning the webhook journal or the event log failed (it is retried after the next deliveries)")


def replay(conn: sqlite3.Connection, include_processed: bool = False, phone_number_id: str = "") -> list[Outcome]:
    """Process journaled deliveries again (idempotent): by default those not processed yet."""
    outcomes = []
    for row in store.journal_unprocessed(conn, include_processed):
        with write_transaction(conn):
            try:
                payload = decode(row["body"])
            except Exception as exc:  # malformed, or still unreadable: it stays failed, with the reason
                error = str(exc) if isinstance(exc, (MalformedPayload, Unreadable)) else f"{type(exc).__name__}: {exc}"
                store.journal_finish(conn, row["delivery_id"], "failed", error[:2000])
                outcomes.append(Outcome(row["delivery_id"], "failed", None, error))
                continue
            delivery_id = row["delivery_id"]

            def finish(state: str, error: str | None, delivery_id: int = delivery_id) -> int:
                store.journal_finish(conn, delivery_id, state, error)
                return delivery_id

            outcomes.append(_process(conn, payload, phone_number_id, finish))
    return outcomes


def _process(
    conn: sqlite3.Connection,
    payload: Any,
    phone_number_id: str,
    record: Callable[[str, str | None], int],
    parsed: Delivery | None = None,
) -> Outcome:
    """Apply a delivery under a savepoint; `record(state, error)` writes its journal row, giving its id."""
    conn.execute("SAVEPOINT process_delivery")
    try:
        delivery, result = _apply(conn, payload, phone_number_id, parsed=parsed)
    except Exception as exc:  # a bug or a shape we do not know yet: keep the body, record why
        conn.execute("ROLLBACK TO process_delivery")
        conn.execute("RELEASE process_delivery")
        error = f"{type(exc).__name__}: {exc}"
        delivery_id = record("failed", error[:2000])
        log.exception("Delivery %s could not be processed; kept in the journal for replay", delivery_id)
        return Outcome(delivery_id, "failed", None, error)
    conn.execute("RELEASE process_delivery")
    outcome = _processed(delivery, result, record)
    _report(outcome.delivery_id, delivery)
    return outcome


def _apply(
    conn: sqlite3.Connection,
    payload: Any,
    phone_number_id: str,
    fields: Counter[str] | None = None,
    parsed: Delivery | None = None,
) -> tuple[Delivery, store.IngestResult]:
    """Parse (unless `parsed`) and store a delivery; its webhook fields are counted now, or added to
    `fields` (noted once a batch)."""
    delivery = parsed if parsed is not None else parse_delivery(payload, phone_number_id)
    result = store.apply_delivery(conn, delivery)
    if fields is None:
        store.note_fields(conn, Counter(delivery.fields))
    else:
        fields.update(delivery.fields)
    return delivery, result


def _processed(delivery: Delivery, result: store.IngestResult, record: Callable[[str, str | None], int]) -> Outcome:
    problems = "; ".join(delivery.problems)[:2000] or None
    return Outcome(record("processed", problems), "processed", result, problems)


def _report(delivery_id: int, delivery: Delivery) -> None:
    """Log what a processed delivery skipped or did not handle."""
    for problem in delivery.problems:
        log.warning("Delivery %s: skipped %s", delivery_id, problem)
    for number in delivery.other_numbers:
        log.warning(
            "Delivery %s: skipped a change for phone_number_id %s, not this inbox's number", delivery_id, number
        )
    for name in delivery.ignored_fields:
        log.info("Delivery %s: acknowledged webhook field %r (not handled)", delivery_id, name)
