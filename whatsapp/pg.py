"""PostgreSQL connections that behave like our sqlite3 ones, so store/ SQL that is portable runs unchanged.

`PgPool(url).connect()` gives a `PgConnection` (psycopg 3, autocommit, from a psycopg_pool pool):
`execute(sql, params)` with sqlite3's `?` or `:name` placeholders, rows like `sqlite3.Row`, explicit
BEGIN / COMMIT / SAVEPOINT statements, `in_transaction`, and psycopg's errors raised as classes that are
also sqlite3's (a unique violation is caught by `except sqlite3.IntegrityError`).

Placeholders become PostgreSQL's own `$1, $2, ...` and run on psycopg's RawCursor, which parses nothing
itself: a `%` (in a LIKE pattern, say) needs no doubling, and a `?` or `:name` inside a string literal,
a quoted identifier, a dollar-quoted body or a comment stays as written. PostgreSQL's JSON operators
`?`, `?|` and `?&` cannot be written here (they would be read as placeholders): use jsonb_exists().
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors
from psycopg.adapt import AdaptersMap, Loader
from psycopg.pq import ExecStatus, TransactionStatus
from psycopg.types.string import StrDumperUnknown, TextLoader

Params = Sequence[Any] | Mapping[str, Any]

# -- placeholders -----------------------------------------------------------------------------------

# What is skipped (copied as is) comes first; then the two kinds of placeholder.
_TOKENS = re.compile(
    r"""
      (?P<skip>
          '(?:[^']|'')*'                                # 'string' ('' inside)
        | (?<![\w$])[eE]'(?:[^'\\]|\\.|'')*'            # E'string' (backslash escapes)
        | "(?:[^"]|"")*"                                # "quoted identifier"
        | --[^\n]*                                      # -- comment
        | /\*.*?\*/                                     # /* comment */
        | \$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?\$(?P=tag)\$ # $$dollar-quoted$$ or $tag$...$tag$
        | ::                                            # a cast, not a :name
      )
    | (?P<positional>\?)
    | (?<![\w:]):(?P<name>[A-Za-z_]\w*)
    """,
    re.VERBOSE | re.DOTALL,
)

# SQLite's transaction statements that PostgreSQL spells differently or treats more leniently.
_BEGIN = re.compile(r"\s*BEGIN(?:\s+(?:IMMEDIATE|EXCLUSIVE|DEFERRED))?(?:\s+TRANSACTION)?\s*;?\s*", re.I)
_END = re.compile(r"\s*(COMMIT|END|ROLLBACK)(?:\s+TRANSACTION)?\s*;?\s*", re.I)
_SAVEPOINT = re.compile(r"\s*SAVEPOINT\s+(\w+)\s*;?\s*", re.I)
_RELEASE = re.compile(r"\s*RELEASE(?:\s+SAVEPOINT)?\s+(\w+)\s*;?\s*", re.I)


class Translation(NamedTuple):
    """One statement as PostgreSQL takes it."""

    sql: str
    positional: int  # how many `?` (each became $1, $2, ...)
    names: tuple[str, ...]  # the `:name`s in order of first use ($1 is names[0]); repeats share one
    kind: str = ""  # "begin", "commit", "rollback", "savepoint", "release" or "" (any other)
    savepoint: str = ""  # the savepoint's name, lower-cased as PostgreSQL folds it


@lru_cache(maxsize=4096)
def translate(sql: str) -> Translation:
    """sqlite3's SQL with `?` or `:name` placeholders -> PostgreSQL's `$n` (cached per SQL string)."""
    if _BEGIN.fullmatch(sql):
        return Translation("BEGIN", 0, (), "begin")
    if match := _END.fullmatch(sql):
        verb = match.group(1).upper()
        return Translation(sql, 0, (), "rollback" if verb == "ROLLBACK" else "commit")
    if match := _SAVEPOINT.fullmatch(sql):
        return Translation(sql, 0, (), "savepoint", match.group(1).lower())
    if match := _RELEASE.fullmatch(sql):
        return Translation(sql, 0, (), "release", match.group(1).lower())
    parts: list[str] = []
    names: dict[str, int] = {}
    positional = 0
    end = 0
    for match in _TOKENS.finditer(sql):
        if match.group("skip") is not None:
            continue
        parts.append(sql[end : match.start()])
        end = match.end()
        if match.group("positional"):
            positional += 1
            parts.append(f"${positional}")
        else:
            number = names.setdefault(match.group("name"), len(names) + 1)
            parts.append(f"${number}")
    if positional and names:
        raise sqlite3.ProgrammingError("A statement cannot mix ? and :name placeholders")
    if not parts:
        return Translation(sql, 0, ())
    parts.append(sql[end:])
    return Translation("".join(parts), positional, tuple(names))


def bind(translation: Translation, params: Params | None) -> Sequence[Any] | None:
    """The parameters in $n order, checked as sqlite3 checks them."""
    if translation.names:
        if not isinstance(params, Mapping):
            raise sqlite3.ProgrammingError("This statement uses :name placeholders: pass a dict")
        try:
            return [params[name] for name in translation.names]
        except KeyError as exc:
            raise sqlite3.ProgrammingError(
                f"You did not supply a value for binding parameter :{exc.args[0]}."
            ) from None
    if isinstance(params, Mapping):
        if translation.positional:
            raise sqlite3.ProgrammingError("This statement uses ? placeholders: pass a sequence")
        return None
    supplied = 0 if params is None else len(params)
    if supplied != translation.positional:
        raise sqlite3.ProgrammingError(
            f"Incorrect number of bindings supplied. The current statement uses {translation.positional}, "
            f"and there are {supplied} supplied."
        )
    return list(params) if translation.positional else None  # type: ignore[arg-type]


# -- errors ------------------------------------------------------------------------------------------

# psycopg's DB-API classes and the sqlite3 classes that store/ code catches for them.
_SQLITE_TWINS: dict[type[psycopg.Error], type[sqlite3.Error]] = {
    psycopg.Error: sqlite3.Error,
    psycopg.InterfaceError: sqlite3.InterfaceError,
    psycopg.DatabaseError: sqlite3.DatabaseError,
    psycopg.DataError: sqlite3.DataError,
    psycopg.OperationalError: sqlite3.OperationalError,
    psycopg.IntegrityError: sqlite3.IntegrityError,
    psycopg.InternalError: sqlite3.InternalError,
    psycopg.ProgrammingError: sqlite3.ProgrammingError,
    psycopg.NotSupportedError: sqlite3.NotSupportedError,
}
_MAPPED: dict[type[psycopg.Error], type[psycopg.Error]] = {}


def error_class(cls: type[psycopg.Error]) -> type[psycopg.Error]:
    """A subclass of psycopg's `cls` that is also the matching sqlite3 error class, in a hierarchy
    parallel to psycopg's (error_class(UniqueViolation) is a subclass of error_class(IntegrityError))."""
    mapped = _MAPPED.get(cls)
    if mapped is None:
        parents = [error_class(base) for base in cls.__bases__ if issubclass(base, psycopg.Error)]
        twin = [_SQLITE_TWINS[cls]] if cls in _SQLITE_TWINS else []
        namespace = {"__module__": __name__, "__doc__": cls.__doc__}
        # setdefault: two threads meeting a new class at once still agree on one mapped class
        mapped = _MAPPED.setdefault(cls, type(cls.__name__, (cls, *parents, *twin), namespace))
    return mapped


def translated_error(exc: psycopg.Error) -> psycopg.Error:
    """The same error (message, sqlstate, diag) as an instance of `error_class(type(exc))`."""
    if isinstance(exc, sqlite3.Error):
        return exc
    cls = error_class(type(exc))
    new = cls.__new__(cls)
    new.__dict__.update(exc.__dict__)
    new.args = exc.args
    return new


# What store/ code written for PostgreSQL too may catch by name.
UniqueViolation = error_class(pg_errors.UniqueViolation)
IntegrityError = error_class(psycopg.IntegrityError)
OperationalError = error_class(psycopg.OperationalError)


# -- rows and values ---------------------------------------------------------------------------------


class Row(tuple):
    """A result row as sqlite3.Row offers it: row[0], row["column"] (case-insensitive), keys(), dict(row)."""

    __slots__ = ()
    _names: tuple[str, ...] = ()
    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            index = self._index.get(key)
            if index is None:
                index = self._index.get(key.lower())
                if index is None:
                    raise IndexError("No item with that key")
            return tuple.__getitem__(self, index)
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


@lru_cache(maxsize=1024)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    index: dict[str, int] = {}
    for position, name in enumerate(names):  # a repeated name means its first column, as in sqlite3
        index.setdefault(name, position)
        index.setdefault(name.lower(), position)
    return type("Row", (Row,), {"__slots__": (), "_names": names, "_index": index})


_ROW_STATUSES = frozenset({ExecStatus.TUPLES_OK, ExecStatus.SINGLE_TUPLE, ExecStatus.TUPLES_CHUNK})


def _has_rows(cursor: psycopg.Cursor[Any]) -> bool:
    """cursor.description is not None, without building its Column objects (a statement's cost here)."""
    res = cursor.pgresult
    return res is not None and (res.nfields > 0 or res.status in _ROW_STATUSES)


def _row_factory(cursor: psycopg.Cursor[Any]) -> Any:
    if not _has_rows(cursor):
        return tuple
    res = cursor.pgresult
    names = []
    for index in range(res.nfields):
        name = res.fname(index)
        names.append(name.decode() if name else f"column_{index + 1}")  # COPY's columns have no name
    row_class = _row_class(tuple(names))

    def make_row(values: Sequence[Any]) -> Row:
        for value in values:
            if value.__class__ is str and NUL_ESCAPE in value:
                return row_class(unescape_nul(v) if v.__class__ is str else v for v in values)
        return row_class(values)

    return make_row


# PostgreSQL's text cannot hold U+0000, which SQLite's does and a customer may send ("\u0000" in
# JSON): every str parameter holding one is escaped reversibly, and every row read is unescaped, so
# the text comes back exactly as it was written. The escape is U+10FFFF, a noncharacter (never in
# text that is interchanged), doubled when the text holds it itself.
NUL_ESCAPE = "\U0010ffff"
_ESCAPED = re.compile(NUL_ESCAPE + "(.)", re.S)


def escape_nul(text: str) -> str:
    if "\x00" in text or NUL_ESCAPE in text:
        return text.replace(NUL_ESCAPE, NUL_ESCAPE * 2).replace("\x00", NUL_ESCAPE + "0")
    return text


def unescape_nul(text: str) -> str:
    return _ESCAPED.sub(lambda found: NUL_ESCAPE if found[1] == NUL_ESCAPE else "\x00", text)


class _NulEscapingDumper(StrDumperUnknown):
    def dump(self, obj: str) -> Any:
        return super().dump(escape_nul(obj))


class _NumericLoader(Loader):
    """numeric -> int or float, as SQLite gives them (SUM of a bigint and AVG are numeric here, and a
    Decimal would come out of the JSON as a string)."""

    def load(self, data: Any) -> int | float:
        text = bytes(data)
        if text.isdigit() or (text[:1] == b"-" and text[1:].isdigit()):
            return int(text)
        return float(text)


# json and jsonb come back as their text, as SQLite's TEXT columns do (store/ calls json.loads).
ADAPTERS = AdaptersMap(psycopg.adapters)
ADAPTERS.register_loader("numeric", _NumericLoader)
ADAPTERS.register_loader("json", TextLoader)
ADAPTERS.register_loader("jsonb", TextLoader)
ADAPTERS.register_dumper(str, _NulEscapingDumper)

_CONNECT_KWARGS: dict[str, Any] = {
    "autocommit": True,  # as sqlite3's isolation_level=None: transactions are the statements we send
    "cursor_factory": psycopg.RawCursor,
    "row_factory": _row_factory,
    "context": ADAPTERS,
}


# -- cursors and connections -------------------------------------------------------------------------


class PgCursor:
    """The result of one execute, read as a sqlite3 cursor is read."""

    __slots__ = ("_cursor", "_rows")

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor
        self._rows = _has_rows(cursor)  # sqlite3 gives no rows (not an error) for an INSERT

    def fetchone(self) -> Any:
        return self._cursor.fetchone() if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall() if self._rows else []

    def fetchmany(self, size: int = 1) -> list[Any]:
        return self._cursor.fetchmany(size) if self._rows else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor) if self._rows else iter(())

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def lastrowid(self) -> int:
        raise sqlite3.NotSupportedError("PostgreSQL has no lastrowid: use INSERT ... RETURNING id")

    def close(self) -> None:
        self._cursor.close()


class PgConnection:
    """A psycopg connection in autocommit mode with the sqlite3 connection methods store/ uses."""

    def __init__(self, raw: psycopg.Connection[Any], pool: psycopg_pool.ConnectionPool | None = None) -> None:
        self.raw = raw  # psycopg's own connection, for what sqlite3 has no word for (LISTEN, COPY)
        self._pool = pool
        self._closed = False
        self._opened_by_savepoint = ""  # a SAVEPOINT outside a transaction began one (as in SQLite)
        self.database: Any = None  # set by whatsapp.db's Database
        self.settings_read: dict[str, Any] | None = None  # as db.Connection's

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR)

    def execute(self, sql: str, params: Params | None = ()) -> PgCursor:
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        translation = translate(sql)
        if translation.kind:
            self._before_transaction_statement(translation)
        values = bind(translation, params)
        cursor = self.raw.cursor()
        try:
            cursor.execute(translation.sql, values)
        except psycopg.Error as exc:
            raise translated_error(exc) from exc
        if translation.kind:
            self._after_transaction_statement(translation)
        return PgCursor(cursor)

    def executemany(self, sql: str, seq_of_params: Iterable[Params]) -> PgCursor:
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        translation = translate(sql)
        values = [bind(translation, params) or () for params in seq_of_params]
        cursor = self.raw.cursor()
        try:
            cursor.executemany(translation.sql, values)
        except psycopg.Error as exc:
            raise translated_error(exc) from exc
        return PgCursor(cursor)

    def executescript(self, script: str) -> None:
        """Several statements without parameters, as they are (a schema file)."""
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        try:
            self.raw.execute(script)  # type: ignore[arg-type]  # no parameters: one simple query
        except psycopg.Error as exc:
            raise translated_error(exc) from exc

    def _before_transaction_statement(self, translation: Translation) -> None:
        # PostgreSQL only warns where SQLite refuses; refuse as SQLite does, so both engines agree.
        kind = translation.kind
        if kind == "begin" and self.in_transaction:
            raise sqlite3.OperationalError("cannot start a transaction within a transaction")
        if kind in ("commit", "rollback") and not self.in_transaction:
            verb = "commit" if kind == "commit" else "rollback"
            raise sqlite3.OperationalError(f"cannot {verb} - no transaction is active")
        if kind == "savepoint" and not self.in_transaction:
            self.execute("BEGIN")
            self._opened_by_savepoint = translation.savepoint

    def _after_transaction_statement(self, translation: Translation) -> None:
        if translation.kind in ("commit", "rollback"):
            self._opened_by_savepoint = ""
        elif translation.kind == "release" and translation.savepoint == self._opened_by_savepoint:
            self.execute("COMMIT")  # releasing the savepoint that began the transaction commits it

    def commit(self) -> None:
        if self.in_transaction:
            self.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.execute("ROLLBACK")

    def __enter__(self) -> PgConnection:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        # As sqlite3's `with conn:`: commit or roll back an open transaction; the connection stays open.
        if exc_type is None:
            self.commit()
        else:
            self.rollback()

    def close(self) -> None:
        """Give the connection back to its pool (rolled back there if a transaction is open), or close it."""
        if self._closed:
            return
        self._closed = True
        if self._pool is not None:
            self._pool.putconn(self.raw)
        else:
            self.raw.close()


def connect(url: str) -> PgConnection:
    """One connection of its own (no pool), for the command line."""
    try:
        return PgConnection(psycopg.connect(url, **_CONNECT_KWARGS))
    except psycopg.Error as exc:
        raise translated_error(exc) from exc


class PgPool:
    """A psycopg_pool pool of PgConnections; a connection's close() gives it back."""

    def __init__(self, url: str, min_size: int = 1, max_size: int = 10, timeout: float = 30.0) -> None:
        self.url = url
        self._pool = psycopg_pool.ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs=_CONNECT_KWARGS,
            open=True,
            name="wa-inbox",
        )

    def connect(self) -> PgConnection:
        try:
            return PgConnection(self._pool.getconn(), self._pool)
        except psycopg.Error as exc:
            raise translated_error(exc) from exc

    def stats(self) -> dict[str, int]:
        return self._pool.get_stats()

    def close(self) -> None:
        self._pool.close()
