"""`flask backup PATH`: a consistent, checked, single-file copy of the live database, taken while the
service runs; a backup taken under load restores to an inbox holding every acknowledged delivery."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from app import create_app
from whatsapp.backup import BackupError, backup

from .gunicorn import start_gunicorn, stop_gunicorn
from .helpers import AGENT_KEY, APP_SECRET, post_webhook, sign, text_message, wamid

pytestmark = pytest.mark.sqlite_only  # flask backup copies the SQLite file

ROOT = Path(__file__).resolve().parent.parent
API = "/api/whatsapp"
CUSTOMERS = [f"1415888{n:04d}" for n in range(12)]


def deliver(client, count: int, start: int = 0) -> list[str]:
    """`count` customer messages spread over the customers, each its own delivery: their wamids."""
    ids = []
    for n in range(start, start + count):
        message_id = wamid("backup")
        answer = post_webhook(
            client, text_message(f"note {n}", wa_id=CUSTOMERS[n % len(CUSTOMERS)], message_id=message_id)
        )
        assert answer.status_code == 200, answer.get_json()
        ids.append(message_id)
    return ids


def restored_inbox(database: Path, media: Path) -> dict[int, dict]:
    """A fresh app over `database`, read through its API: each conversation's unread count, the
    wamids of its messages and how many of them are inbound; and the tab counts."""
    app = create_app({"DATABASE_PATH": str(database), "MEDIA_DIR": str(media), "AGENT_API_KEY": AGENT_KEY})
    try:
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {AGENT_KEY}"
        listed = client.get(f"{API}/conversations", query_string={"limit": 200}).get_json()
        assert listed["total"] == listed["count"], "more conversations than one page"
        inbox = {"counts": listed["counts"], "stats": client.get(f"{API}/stats").get_json()["stats"], "threads": {}}
        for conversation in listed["conversations"]:
            thread = client.get(f"{API}/messages", query_string={"conversation_id": conversation["id"], "limit": 500})
            messages = thread.get_json()["messages"]
            assert len(messages) < 500, "more messages than one page"
            inbox["threads"][conversation["id"]] = {
                "unread": conversation["unread_count"],
                "wamids": {m["whatsapp_message_id"] for m in messages},
                "inbound": sum(m["direction"] == "inbound" for m in messages),
            }
        return inbox
    finally:
        app.extensions["media"].stop()
        app.extensions["away_reply"].stop()


def all_wamids(inbox: dict) -> set[str]:
    return set().union(*(thread["wamids"] for thread in inbox["threads"].values()))


def assert_unread_counts_match_messages(inbox: dict) -> None:
    """Nobody read anything: each conversation's unread count is its inbound messages, and the
    trigger-kept totals agree with the conversations."""
    for thread in inbox["threads"].values():
        assert thread["unread"] == thread["inbound"]
    unread = sum(1 for thread in inbox["threads"].values() if thread["unread"] > 0)
    assert inbox["counts"]["unread"] == unread
    assert inbox["stats"]["unread_conversations"] == unread
    assert inbox["stats"]["total_conversations"] == len(inbox["threads"])


def assert_single_checked_file(path: Path) -> None:
    """A rollback-journal database (no -wal beside it) that passes integrity_check."""
    assert path.read_bytes()[18:20] == b"\x01\x01", "the backup's header still says WAL"
    assert not Path(f"{path}-wal").exists()
    copy = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        copy.close()


def no_partial_files(folder: Path) -> bool:
    return not [p.name for p in folder.iterdir() if p.name.endswith(".partial")]


# --- through the CLI runner ------------------------------------------------------------------


def test_a_backup_opens_as_a_complete_inbox_with_the_same_messages(app, client, runner, tmp_path):
    sent = deliver(client, 30)
    target = tmp_path / "backups" / "inbox-copy.sqlite3"
    target.parent.mkdir()

    result = runner.invoke(args=["backup", str(target)])

    assert result.exit_code == 0, result.output
    assert f"to {target}" in result.output
    assert "30 messages in 12 conversations, integrity_check ok" in result.output
    assert f"({target.stat().st_size} bytes)" in result.output
    assert_single_checked_file(target)
    assert no_partial_files(target.parent)
    assert oct(target.stat().st_mode & 0o777) == "0o600"  # customer data: readable by its owner only
    inbox = restored_inbox(target, tmp_path / "media-restored")
    assert all_wamids(inbox) == set(sent)
    assert len(inbox["threads"]) == 12
    assert_unread_counts_match_messages(inbox)


def test_a_backup_refuses_the_live_database_itself(app, client, runner, settings, tmp_path):
    deliver(client, 2)
    live = Path(settings["DATABASE_PATH"])
    (tmp_path / "link.sqlite3").symlink_to(live)
    before = live.read_bytes()
    for target in (live, Path(f"{live}-wal"), tmp_path / "link.sqlite3"):
        result = runner.invoke(args=["backup", str(target)])
        assert result.exit_code == 1
        assert result.output.strip().splitlines() == [
            f"Error: {target} is the live database itself: back it up to another file"
        ]
    assert live.read_bytes() == before
    assert client.get(f"{API}/stats").get_json()["stats"]["total_conversations"] == 2


def test_a_backup_refuses_a_folder_that_does_not_exist(runner, tmp_path):
    target = tmp_path / "no-such-folder" / "copy.sqlite3"
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: The folder {target.parent} does not exist: create it first"
    assert not target.parent.exists()


def test_a_folder_it_cannot_write_in_is_one_line_and_no_traceback(runner):
    result = runner.invoke(args=["backup", "/proc/inbox-copy.sqlite3"])  # no file can be made in /proc, even by root
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("Error: Cannot write in /proc: ")


def test_a_backup_refuses_a_folder_as_its_path(runner, tmp_path):
    result = runner.invoke(args=["backup", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {tmp_path} is a folder: give the backup file's name"


def test_a_backup_replaces_an_existing_file_only_with_force(client, runner, tmp_path):
    deliver(client, 3)
    target = tmp_path / "copy.sqlite3"
    target.write_bytes(b"last week's backup")

    refused = runner.invoke(args=["backup", str(target)])
    assert refused.exit_code == 1
    assert refused.output.strip() == f"Error: {target} already exists: use --force to replace it"
    assert target.read_bytes() == b"last week's backup"

    forced = runner.invoke(args=["backup", "--force", str(target)])
    assert forced.exit_code == 0, forced.output
    assert "3 messages in 3 conversations" in forced.output
    assert_single_checked_file(target)
    assert no_partial_files(tmp_path)


def test_a_copy_in_many_steps_is_the_snapshot_of_its_start_while_deliveries_go_on(client, settings, tmp_path):
    """Deliveries committed between the backup's steps (one page a step) are not in the copy, and the
    copy is still whole: it is one read transaction's snapshot, never restarted by those commits."""
    before = deliver(client, 20)
    during: list[str] = []
    steps: list[tuple[int, int]] = []

    def deliver_between_steps(copied: int, total: int) -> None:
        steps.append((copied, total))
        during.extend(deliver(client, 1, start=len(during)))

    target = tmp_path / "copy.sqlite3"
    done = backup(settings["DATABASE_PATH"], str(target), pages_per_step=1, progress=deliver_between_steps)

    assert len(steps) == done.pages > 1 and steps[-1] == (done.pages, done.pages)
    assert [copied for copied, _total in steps] == list(range(1, done.pages + 1))  # never started again
    assert done.messages == 20
    assert_single_checked_file(target)
    inbox = restored_inbox(target, tmp_path / "media-restored")
    assert all_wamids(inbox) == set(before)
    assert_unread_counts_match_messages(inbox)
    assert len(during) == done.pages
    live = restored_inbox(Path(settings["DATABASE_PATH"]), tmp_path / "media")  # the live inbox took them all
    assert all_wamids(live) == set(before) | set(during)


def test_a_failed_backup_leaves_nothing_at_its_path(app, settings, tmp_path):
    target = tmp_path / "backups" / "copy.sqlite3"
    target.parent.mkdir()

    def broken(copied: int, total: int) -> None:
        raise BackupError("the disk filled up")

    with pytest.raises(BackupError):
        backup(settings["DATABASE_PATH"], str(target), pages_per_step=1, progress=broken)
    assert list(target.parent.iterdir()) == []  # neither the backup nor its partial copy


def test_a_file_that_appears_at_the_path_during_the_copy_is_kept_without_force(app, settings, tmp_path):
    target = tmp_path / "backups" / "copy.sqlite3"
    target.parent.mkdir()

    def another_backup_lands_first(copied: int, total: int) -> None:
        if not target.exists():
            target.write_bytes(b"another job's backup")

    with pytest.raises(BackupError, match="already exists: use --force"):
        backup(settings["DATABASE_PATH"], str(target), pages_per_step=1, progress=another_backup_lands_first)
    assert target.read_bytes() == b"another job's backup"
    assert [p.name for p in target.parent.iterdir()] == ["copy.sqlite3"]


# --- under load: gunicorn, deliveries from threads, `flask backup` in a subprocess ------------


def start_service(tmp_path: Path, database: Path) -> tuple[subprocess.Popen, str]:
    """gunicorn with two workers (and its webhook writer) over `database`, ready to serve."""
    return start_gunicorn(tmp_path, {"WEB_CONCURRENCY": "2", "DATABASE_PATH": str(database)})


class Senders:
    """Threads posting signed deliveries, one message each, until stopped: the wamids answered 200, in
    the order their answers came."""

    def __init__(self, base: str, threads: int = 4) -> None:
        self.base = base
        self.acked: list[str] = []
        self.sent: set[str] = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(threads)]

    def run(self, index: int) -> None:
        session = requests.Session()
        n = index
        while not self.stopping.is_set():
            message_id = wamid("load")
            payload = text_message(f"load {n}", wa_id=CUSTOMERS[n % len(CUSTOMERS)], message_id=message_id)
            body = json.dumps(payload).encode()
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)}
            with self.lock:
                self.sent.add(message_id)
            try:
                answer = session.post(f"{self.base}{API}/webhook", data=body, headers=headers, timeout=30)
            except requests.RequestException:
                continue  # not acknowledged: a backup owes it nothing
            if answer.status_code == 200:
                with self.lock:
                    self.acked.append(message_id)
            n += len(self.threads)

    def acknowledged(self) -> list[str]:
        with self.lock:
            return list(self.acked)

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 60
        while len(self.acknowledged()) < count:
            assert time.monotonic() < deadline, f"only {len(self.acknowledged())} deliveries answered 200"
            time.sleep(0.05)

    def __enter__(self) -> Senders:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)


@pytest.mark.slow
def test_a_backup_taken_under_load_restores_every_delivery_acknowledged_before_it(tmp_path):
    database = tmp_path / "inbox.sqlite3"
    target = tmp_path / "backups" / "inbox-under-load.sqlite3"
    target.parent.mkdir()
    process, base = start_service(tmp_path, database)
    # A reader holding a snapshot from before the first delivery, as Litestream holds one: no checkpoint
    # can move the deliveries into the database file, so they are in its WAL only and a copy of the file
    # alone would miss every one of them.
    pinned = sqlite3.connect(database, isolation_level=None)
    pinned.execute("BEGIN")
    assert pinned.execute("SELECT COUNT(*) FROM whatsapp_messages").fetchone()[0] == 0
    try:
        with Senders(base) as senders:
            senders.wait_for(150)
            before_backup = set(senders.acknowledged())
            command = [sys.executable, "-m", "flask", "--app", "app", "backup", str(target)]
            env = {**os.environ, "DATABASE_PATH": str(database), "MEDIA_DIR": str(tmp_path / "media")}
            ran = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
            after_backup = len(senders.acknowledged())
            senders.wait_for(after_backup + 50)  # the service went on taking deliveries after it
        sent = set(senders.sent)
    finally:
        pinned.close()
        stop_gunicorn(process)

    assert ran.returncode == 0, ran.stderr
    assert "integrity_check ok" in ran.stdout
    assert_single_checked_file(target)
    inbox = restored_inbox(target, tmp_path / "media-restored")
    restored = all_wamids(inbox)
    assert before_backup <= restored, f"{len(before_backup - restored)} acknowledged deliveries are missing"
    assert restored <= sent  # nothing the senders did not send
    assert f" {len(restored)} messages in {len(inbox['threads'])} conversations" in ran.stdout
    assert_unread_counts_match_messages(inbox)
