"""One committer for every gunicorn worker of a database file: the webhook writer process.

Each worker's own group commit (ingest.GroupCommit) batches only the deliveries of that worker,
and its leader shares the worker's GIL with the request threads, so it waits for the GIL at every
SQLite call while it holds the file's write lock (BENCHMARKS.md). Under gunicorn the workers hand
their verified deliveries to this process instead: one thread, nothing else competing for its GIL,
taking every delivery that has arrived from any worker since its last commit as one batch
(GroupCommit._commit: journal, process, one COMMIT and fsync), then answering each worker with its
outcome. A worker answers Meta 200 only after that answer, i.e. after COMMIT returned.

The process is started by the first worker that finds none (`python -m whatsapp.writer`), holds
`<database>-writer` locked while it lives (a second one exits at once), listens on an abstract
Unix socket named after the file and accepts only processes of its own user, and exits when the
gunicorn master it was started for is gone, or on SIGTERM/SIGINT after the batch in hand. When it
cannot be reached a worker commits the delivery itself, as it would without a writer: a delivery is
never refused for want of it (one in flight when the writer died may then be journaled twice; its
messages are stored once, as for any retry of Meta's).
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import hashlib
import io
import json
import logging
import os
import pickle
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from . import db, store
from .ingest import Outcome, Unreadable, _Waiting, commit_batch, decode
from .updates import Delivery

log = logging.getLogger(__name__)

# Header, parsed-delivery and body lengths; then the JSON header, the worker's parse of the body
# (a pickled updates.Delivery, or nothing), and the body. Only processes of this user connect.
REQUEST = struct.Struct(">III")
ANSWER = struct.Struct(">I")  # answer length; then the JSON answer
MAX_BATCH = 64
MAX_HEADER = 64 * 1024  # a request's JSON header
MAX_PART = 256 * 1024 * 1024  # its body, or the worker's parse of it (far above any webhook limit)
IDLE_EXIT = 60.0  # seconds without any worker connected after which a writer leaves
RESPAWN_PAUSE = 5.0  # seconds between a worker's attempts to start a writer


class WriterUnavailable(Exception):
    """The writer could not be reached or gave no answer: commit the delivery in this process."""


def _code_version() -> str:
    """A fingerprint of the code that reads and writes deliveries: after a deploy (or a gunicorn
    reload) the new workers start and use a writer of their own code, never the old one."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for source in sorted([*root.rglob("*.py"), root.parent / "schema.sql"]):
        try:
            digest.update(source.read_bytes())
        except OSError:
            continue
    return digest.hexdigest()[:16]


CODE_VERSION = _code_version()


def address(path: str, synchronous: str) -> str:
    """The writer's abstract socket name for a database file, sync level and code version (Linux;
    no file to clean up). Both ends check that the other is a process of the same user."""
    key = f"{os.path.realpath(path)}\0{synchronous.upper()}\0{CODE_VERSION}"
    return f"\0wa-inbox-writer-{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def _outcome_json(waiting: _Waiting) -> bytes:
    if waiting.error is not None or waiting.outcome is None:
        answer: dict[str, Any] = {"error": f"{type(waiting.error).__name__}: {waiting.error}"}
    else:
        outcome = waiting.outcome
        answer = {"delivery_id": outcome.delivery_id, "state": outcome.state, "error": outcome.error}
        if outcome.result is not None:
            answer["result"] = vars(outcome.result)
    data = json.dumps(answer).encode()
    return ANSWER.pack(len(data)) + data


def _outcome_from(answer: dict[str, Any]) -> Outcome:
    if "delivery_id" not in answer:
        raise JournalFailed(answer.get("error") or "the writer could not journal the delivery")
    result = store.IngestResult(**answer["result"]) if answer.get("result") is not None else None
    return Outcome(int(answer["delivery_id"]), str(answer["state"]), result, answer.get("error"))


class JournalFailed(Exception):
    """The writer could not journal the delivery (the commit failed): not on disk, Meta must retry."""


# ---------------------------------------------------------------------------------------- writer


class _Peer:
    """One worker thread's connection: bytes read so far, parsed into requests as they complete."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def requests(self) -> list[tuple[dict[str, Any], bytes, bytes]]:
        """(header, parsed, body) of each complete request."""
        found = []
        while len(self.buffer) >= REQUEST.size:
            head_len, parsed_len, body_len = REQUEST.unpack_from(self.buffer)
            if head_len > MAX_HEADER or parsed_len > MAX_PART or body_len > MAX_PART:
                raise ValueError(f"a request of {head_len}+{parsed_len}+{body_len} bytes")
            parsed_at = REQUEST.size + head_len
            body_at = parsed_at + parsed_len
            end = body_at + body_len
            if len(self.buffer) < end:
                break
            view = bytes(self.buffer[REQUEST.size : end])
            head = json.loads(view[:head_len])
            if not isinstance(head, dict):
                raise ValueError("a request header that is not an object")
            found.append((head, view[head_len : body_at - REQUEST.size], view[body_at - REQUEST.size :]))
            del self.buffer[:end]
        return found


class _Parses(pickle.Unpickler):
    """Unpickles a worker's parse of a delivery and nothing else: the classes of updates.py and
    plain values only."""

    def find_class(self, module: str, name: str) -> Any:
        # updates.py and the `updates_*` modules of the other fields, already imported by updates.py
        if module == "whatsapp.updates" or module.startswith("whatsapp.updates_"):
            found = getattr(sys.modules.get(module), name, None)
            if isinstance(found, type) and dataclasses.is_dataclass(found):
                return found
        raise pickle.UnpicklingError(f"not a delivery's class: {module}.{name}")


def _load_parse(data: bytes) -> Delivery:
    delivery = _Parses(io.BytesIO(data)).load()
    if not isinstance(delivery, Delivery):
        raise pickle.UnpicklingError("not a Delivery")
    return delivery


def _waiting_for(head: dict[str, Any], parsed: bytes, body: bytes) -> _Waiting:
    unreadable = head.get("unreadable")
    phone_number_id = str(head.get("phone_number_id") or "")
    if parsed and unreadable is None:
        try:
            return _Waiting(body, None, phone_number_id, None, delivery=_load_parse(parsed))
        except Exception:  # parse it here instead
            log.exception("Webhook writer: a worker's parse of a delivery could not be read")
    payload = None
    if unreadable is None:
        try:
            payload = decode(body)
        except Unreadable as exc:
            unreadable = str(exc)
        except Exception as exc:  # the worker decoded it already; a bug here must not lose it
            unreadable = f"{type(exc).__name__}: {exc}"
    return _Waiting(body, payload, phone_number_id, unreadable)


def _own_user(sock: socket.socket) -> bool:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def serve(database: db.Database, master_pid: int) -> int:
    """Run the writer for the database until the master is gone or a signal arrives (0), or exit at
    once (0) when another writer holds the file."""
    path, synchronous = database.path, database.synchronous
    lock = os.open(f"{path}-writer-{synchronous.upper()}-{CODE_VERSION}", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(address(path, synchronous))
    except OSError as exc:  # the name is taken, by a process this one would not trust either
        log.error("Webhook writer: cannot listen (%s); the workers commit deliveries themselves", exc)
        return 1
    listener.listen(1024)
    listener.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    master = _watch(master_pid, selector)
    conn = database.connect()
    # The one writer of the file: a larger page cache than a request thread's (the indexes it
    # writes to stay in memory as the inbox grows).
    conn.execute("PRAGMA cache_size = -65536")
    # Checkpoints (copying the WAL into the database file, and its fsync) run beside the commits,
    # on a connection of their own, instead of inside the commit that crosses 1,000 WAL pages.
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    checkpoints = threading.Thread(target=_checkpoints, args=(database, stopping), daemon=True)
    checkpoints.start()
    log.info("Webhook writer ready for %s (pid %s)", path, os.getpid())
    checked = idle_since = time.monotonic()
    while not stopping.is_set():
        batch: list[tuple[_Peer, _Waiting]] = []
        for key, _events in selector.select(timeout=1.0):
            if key.fileobj is listener:
                _accept(listener, selector)
            elif key.fileobj is master:
                log.info("Webhook writer: the server (pid %s) is gone; exiting", master_pid)
                stopping.set()
            elif _read(key.data, selector):
                batch.extend(_requests(key.data, selector))
        for start in range(0, len(batch), MAX_BATCH):
            _commit(conn, batch[start : start + MAX_BATCH])
        now = time.monotonic()
        if len(selector.get_map()) > 1 + (master is not None):
            idle_since = now
        elif now - idle_since > IDLE_EXIT:
            log.info("Webhook writer: no worker connected for %.0f s; exiting", IDLE_EXIT)
            break
        if master is None and now - checked > 1.0:
            checked = now
            if not _alive(master_pid):
                log.info("Webhook writer: the server (pid %s) is gone; exiting", master_pid)
                break
    stopping.set()
    checkpoints.join(timeout=5)
    listener.close()
    conn.close()
    return 0


def _watch(pid: int, selector: selectors.BaseSelector) -> Any:
    """A pidfd of the server process in the selector (readable once it exits; immune to pid reuse),
    or None where pidfds are unavailable (then it is polled)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None
    handle = os.fdopen(fd, "rb", buffering=0)
    selector.register(handle, selectors.EVENT_READ)
    return handle


def _requests(peer: _Peer, selector: selectors.BaseSelector) -> list[tuple[_Peer, _Waiting]]:
    """The complete requests a peer has sent; a peer that sends nonsense is disconnected (its
    thread commits inline), without touching the other peers' requests."""
    try:
        return [(peer, _waiting_for(*request)) for request in peer.requests()]
    except Exception as exc:
        log.warning("Webhook writer: dropped a connection that sent an unreadable request (%s)", exc)
        selector.unregister(peer.sock)
        peer.sock.close()
        return []


CHECKPOINT_EVERY = 0.25  # seconds between checkpoints of whatever the WAL holds


def _checkpoints(database: db.Database, stopping: threading.Event) -> None:
    """PASSIVE checkpoints while the writer runs: they never wait for or block a commit."""
    try:
        conn = database.open()
    except Exception:
        log.exception("Webhook writer: no checkpoint connection; SQLite's readers will checkpoint")
        return
    while not stopping.wait(CHECKPOINT_EVERY):
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except Exception:
            log.exception("Webhook writer: a checkpoint failed (retried)")
    conn.close()


def _accept(listener: socket.socket, selector: selectors.BaseSelector) -> None:
    while True:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            return
        except OSError as exc:  # e.g. out of file descriptors: the worker commits inline
            log.warning("Webhook writer: could not accept a connection (%s)", exc)
            return
        if not _own_user(sock):
            log.warning("Webhook writer: refused a connection from another user")
            sock.close()
            continue
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, _Peer(sock))


def _read(peer: _Peer, selector: selectors.BaseSelector) -> bool:
    try:
        data = peer.sock.recv(1 << 20)
    except BlockingIOError:
        return False
    except OSError:
        data = b""
    if not data:  # the worker thread closed its end (or its process ended)
        selector.unregister(peer.sock)
        peer.sock.close()
        return False
    peer.buffer += data
    return True


def _commit(conn: Any, batch: list[tuple[_Peer, _Waiting]]) -> None:
    commit_batch(conn, [waiting for _peer, waiting in batch])  # a failed commit: each worker answers 503
    for peer, waiting in batch:
        try:
            peer.sock.sendall(_outcome_json(waiting))
        except OSError:  # the worker gave up on it; the delivery is on disk all the same
            log.warning("Webhook writer: a worker left before its answer (delivery stored)")


# ---------------------------------------------------------------------------------------- workers


_local = threading.local()
_spawned: dict[str, float] = {}
_spawn_lock = threading.Lock()
AVAILABLE = sys.platform == "linux"  # abstract Unix sockets and SO_PEERCRED


def submit(
    database: db.Database,
    body: bytes,
    phone_number_id: str,
    unreadable: str | None,
    timeout: float,
    parsed: Delivery | None = None,
) -> Outcome:
    """Hand a verified delivery to the writer and wait for its outcome (on disk when this returns).
    Raises WriterUnavailable when there is no writer to take it, JournalFailed when it failed."""
    sock = _connection(database, timeout)
    head = json.dumps({"phone_number_id": phone_number_id, "unreadable": unreadable}).encode()
    pickled = b""
    if parsed is not None:
        try:
            pickled = pickle.dumps(parsed, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # e.g. nested deeper than pickle goes: the writer parses the body itself
            pickled = b""
    try:
        sock.sendall(REQUEST.pack(len(head), len(pickled), len(body)) + head + pickled + body)
        size = ANSWER.unpack(_receive(sock, ANSWER.size))[0]
        answer = json.loads(_receive(sock, size))
        if not isinstance(answer, dict):
            raise ValueError("an answer that is not an object")
        return _outcome_from(answer)
    except JournalFailed:
        raise
    except Exception as exc:  # no answer, or one this code cannot read: commit it here instead
        _drop_connection()
        raise WriterUnavailable(f"the webhook writer did not answer: {exc}") from exc


def _receive(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the webhook writer closed the connection")
        data += chunk
    return bytes(data)


def _connection(database: db.Database, timeout: float) -> socket.socket:
    path, synchronous = database.path, database.synchronous
    cached = getattr(_local, "conn", None)
    if cached is not None and cached[0] == (os.getpid(), path, synchronous):
        return cached[1]
    _drop_connection()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address(path, synchronous))
    except OSError as exc:
        sock.close()
        start(database)
        raise WriterUnavailable(f"no webhook writer is running ({exc})") from exc
    if not _own_user(sock):  # anyone may bind an abstract name: never hand a delivery to another user
        sock.close()
        log.error("The webhook writer's address is held by another user's process; committing inline")
        raise WriterUnavailable("the webhook writer's address is held by another user's process")
    _local.conn = ((os.getpid(), path, synchronous), sock)
    return sock


def _drop_connection() -> None:
    cached = getattr(_local, "conn", None)
    _local.conn = None
    if cached is not None:
        cached[1].close()


def start(database: db.Database) -> None:
    """Start a writer for the database (at most once every RESPAWN_PAUSE seconds from this process);
    it exits at once if another one is running. The master it serves is this worker's parent."""
    path, synchronous = database.path, database.synchronous
    master = os.getppid()
    if master == 1:  # this worker's server is gone: nothing to start a writer for
        return
    with _spawn_lock:
        if time.monotonic() - _spawned.get(path, -RESPAWN_PAUSE) < RESPAWN_PAUSE:
            return
        _spawned[path] = time.monotonic()
    log.info("Starting the webhook writer for %s", path)
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    busy_timeout_ms = str(int(database.busy_timeout * 1000))
    child = subprocess.Popen(
        [sys.executable, "-m", "whatsapp.writer", path, synchronous, str(master), busy_timeout_ms],
        stdin=subprocess.DEVNULL,
        close_fds=True,
        cwd=root,
        env=env,
    )
    threading.Thread(target=child.wait, daemon=True).start()  # reaped when it exits, never a zombie


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The webhook writer (started by the service itself)")
    parser.add_argument("database")
    parser.add_argument("synchronous")
    parser.add_argument("master_pid", type=int)
    parser.add_argument("busy_timeout_ms", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    database = db.Database(args.database, args.synchronous, args.busy_timeout_ms / 1000)
    return serve(database, args.master_pid)


if __name__ == "__main__":
    sys.exit(main())
