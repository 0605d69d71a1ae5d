"""Online backups of the SQLite database: `flask backup PATH` while the service runs.

SQLite's backup API copies the live file page by page. The copy is read inside one read transaction
on the source, so it is one consistent snapshot however long it takes: in WAL mode a reader never
blocks a writer (deliveries go on being committed), and the steps are never restarted by those commits
(a stepped backup without the transaction starts again whenever another connection writes, and under
steady writes may never finish; the many-step test in tests/test_backup.py never ends without it). The
copy is written under a temporary name in the target's folder, turned into a single file (journal_mode
DELETE, no -wal beside it), checked with PRAGMA integrity_check, flushed to disk and only then renamed
to the target: a half-written or damaged backup is never found at PATH.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import db
from .store.backup import contents

log = logging.getLogger(__name__)

PAGES_PER_STEP = 1024  # pages copied between progress reports (4 MiB at SQLite's default page size)


class BackupError(Exception):
    """A backup refused or failed; the message is one line for the operator."""


@dataclass(frozen=True)
class BackupResult:
    """A finished backup: where it is, its size in bytes, and what it holds."""

    path: str
    size: int
    pages: int
    messages: int
    conversations: int
    seconds: float


def backup(
    source_path: str,
    target_path: str,
    *,
    force: bool = False,
    pages_per_step: int = PAGES_PER_STEP,
    progress: Callable[[int, int], None] | None = None,
) -> BackupResult:
    """Copy the database at `source_path` to `target_path` (replacing it only with `force`), as one
    consistent snapshot; `progress(copied, total)` is called after each step of pages."""
    source, target = Path(source_path), Path(target_path)
    _check(source, target, force)
    started = time.monotonic()
    try:
        handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    except OSError as exc:
        raise BackupError(f"Cannot write in {target.parent}: {exc.strerror}") from None
    os.close(handle)
    try:
        pages = _copy(source, partial, pages_per_step, progress)
        held = _finish(partial)
        _flush(partial)
        _move(partial, target, force)
        _flush(str(target.parent))
    except OSError as exc:
        _remove(partial)
        raise BackupError(f"Cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        _remove(partial)
        raise
    result = BackupResult(
        path=str(target),
        size=target.stat().st_size,
        pages=pages,
        messages=held["messages"],
        conversations=held["conversations"],
        seconds=time.monotonic() - started,
    )
    log.info("Backed up %s to %s: %d bytes, %d messages", source, target, result.size, result.messages)
    return result


def _remove(partial: str) -> None:
    """The unfinished copy and any journal SQLite left beside it."""
    for leftover in (partial, partial + "-journal", partial + "-wal", partial + "-shm"):
        Path(leftover).unlink(missing_ok=True)


def _check(source: Path, target: Path, force: bool) -> None:
    """Refuse a target that is the live database (or one of its side files), in a missing folder, a
    folder itself, or an existing file without `force`."""
    if not source.is_file():
        raise BackupError(f"There is no database at {source}")
    live = source.resolve()
    sides = {live, *(live.with_name(live.name + end) for end in ("-wal", "-shm", "-journal"))}
    if target.resolve() in sides or (target.exists() and os.path.samefile(target, source)):
        raise BackupError(f"{target} is the live database itself: back it up to another file")
    if not target.parent.is_dir():
        raise BackupError(f"The folder {target.parent} does not exist: create it first")
    if target.is_dir():
        raise BackupError(f"{target} is a folder: give the backup file's name")
    if target.exists() and not force:
        raise BackupError(f"{target} already exists: use --force to replace it")


def _copy(source: Path, partial: str, pages_per_step: int, progress: Callable[[int, int], None] | None) -> int:
    """Copy every page of the source into `partial` inside one read transaction; the page count."""
    live = db.open_connection(str(source))
    copy = sqlite3.connect(partial, isolation_level=None)
    copied = 0

    def step(_status: int, remaining: int, total: int) -> None:
        nonlocal copied
        copied = total
        if progress is not None:
            progress(total - remaining, total)

    try:
        live.execute("BEGIN")  # deferred: the snapshot is taken by the first read, just below
        live.execute("SELECT COUNT(*) FROM sqlite_schema").fetchone()
        live.backup(copy, pages=max(1, pages_per_step), progress=step)
        live.execute("COMMIT")
    except sqlite3.Error as exc:
        raise BackupError(f"The copy failed: {exc}") from exc
    finally:
        copy.close()
        live.close()
    return copied


def _finish(partial: str) -> dict[str, int]:
    """Make the copy one self-contained file, check it whole, and count what it holds."""
    copy = sqlite3.connect(partial, isolation_level=None)
    try:
        # The copied header says WAL, as the live file's does; a backup is one file, no -wal beside it.
        mode = copy.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
        if str(mode).lower() != "delete":
            raise BackupError(f"The copy stayed in journal mode {mode}")
        problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"The copy failed PRAGMA integrity_check: {'; '.join(problems[:3])}")
        return contents(copy)
    except sqlite3.Error as exc:
        raise BackupError(f"The copy could not be checked: {exc}") from exc
    finally:
        copy.close()


def _move(partial: str, target: Path, force: bool) -> None:
    """Rename the finished copy to the target; without `force`, never over a file that appeared there
    during the copy (a hard link fails if the name exists, where a rename would replace it)."""
    if force:
        os.replace(partial, target)
        return
    try:
        os.link(partial, target)
    except FileExistsError:
        raise BackupError(f"{target} already exists: use --force to replace it") from None
    except OSError:  # a file system without hard links: the check before the copy has to do
        if target.exists():
            raise BackupError(f"{target} already exists: use --force to replace it") from None
        os.replace(partial, target)
        return
    os.unlink(partial)


def _flush(path: str) -> None:
    """fsync a file or a folder (the rename is durable only once its folder is flushed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
