"""The group commit's statements, compiled once per dialect; on SQLite run on the driver itself.

SQLAlchemy Core's work per statement (cache key, execution context, result object, parameter and
row processing) costs tens of microseconds; the writer runs about a dozen statements per
transaction, several transactions per task. Here each statement is compiled to text once per
dialect; on SQLite its parameters are put in order and the driver's cursor is called directly
(errors wrapped as SQLAlchemy's, so the store's busy, lost-connection and translation rules are
the same); on other dialects (PostgreSQL) SQLAlchemy runs it as before. Values are passed as they
are except JSON ones, encoded here as the dialect's JSON type would.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import JSON
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

__all__ = ["execute", "execute_many", "fetch", "json_dumps", "raw_cursor", "run_text"]

_JSON_OPTS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_CURSOR = "maestro.driver_cursor"


def json_dumps(value: Any) -> str:
    """JSON for the database's JSON columns: fast, and lenient with odd types in agent data."""
    return orjson.dumps(value, default=str, option=_JSON_OPTS).decode()


_json = json_dumps  # as SQLAlchemy's JSON type binds a value (None too: JSON ``null``)


@dataclass(frozen=True, slots=True)
class _Compiled:
    stmt: Any  # kept alive: the cache is keyed by its id
    text: str
    names: tuple[str, ...]  # the positional parameters, in order
    expanding: frozenset[str]  # IN lists, spliced in per call
    json: frozenset[str]  # parameters of JSON type, encoded here
    defaults: dict[str, Any]  # values bound in the statement itself (``status == "started"``)
    row: Callable[[Sequence[Any]], Any] | None  # a SELECT's row type (index and name access)


_compiled: dict[int, _Compiled] = {}
_spliced: dict[tuple[int, tuple[int, ...]], str] = {}


def raw_cursor(conn: Connection) -> sqlite3.Cursor | None:
    """The SQLite driver's cursor for ``conn`` (one per connection), or None on other dialects."""
    if conn.dialect.name != "sqlite":
        return None
    info = conn.info
    cur: sqlite3.Cursor | None = info.get(_CURSOR)
    if cur is None:
        cur = info[_CURSOR] = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    return cur


def _compile(conn: Connection, stmt: Any) -> _Compiled:
    c = _compiled.get(id(stmt))
    if c is not None and c.stmt is stmt:
        return c
    comp = stmt.compile(dialect=conn.dialect)
    names = tuple(comp.positiontup or ())
    binds = comp.binds
    json = frozenset(n for n in names if isinstance(binds[n].type, JSON))
    expanding = frozenset(n for n in names if binds[n].expanding)
    defaults = {n: binds[n].effective_value for n in names if not binds[n].required}
    row = None
    if getattr(stmt, "is_select", False):
        fields = [col.key for col in stmt.selected_columns]
        make: Any = namedtuple  # the columns are known only here (mypy wants literals)
        row_type = make("Row", fields, rename=True)
        row = row_type._make
    c = _compiled[id(stmt)] = _Compiled(stmt, str(comp), names, expanding, json, defaults, row)
    return c


def _args(c: _Compiled, params: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
    if c.defaults:
        params = {**c.defaults, **params}
    if not c.expanding:
        if c.json:
            return c.text, tuple(_json(params[n]) if n in c.json else params[n] for n in c.names)
        return c.text, tuple(params[n] for n in c.names)
    args: list[Any] = []
    sizes = []
    for n in c.names:
        v = params[n]
        if n in c.expanding:
            if not v:
                raise ValueError(f"empty IN list for {n!r}")  # callers skip empty reads
            args.extend(v)
            sizes.append(len(v))
        else:
            args.append(_json(v) if n in c.json else v)
    key = (id(c.stmt), tuple(sizes))
    text = _spliced.get(key)
    if text is None:
        text = c.text
        for n in c.names:
            if n in c.expanding:
                k = len(params[n])
                text = text.replace(f"__[POSTCOMPILE_{n}]", ", ".join("?" * k), 1)
        _spliced[key] = text
    return text, tuple(args)


def _wrap(conn: Connection, text: str, args: Any, e: sqlite3.Error) -> DBAPIError:
    err = DBAPIError.instance(text, args, e, sqlite3.Error, dialect=conn.dialect)
    assert isinstance(err, DBAPIError)
    return err


def fetch(conn: Connection, stmt: Any, params: Mapping[str, Any]) -> list[Any]:
    """A SELECT's rows (each a tuple whose fields are also its columns' names)."""
    cur = raw_cursor(conn)
    if cur is None:
        return list(conn.execute(stmt, dict(params)))
    c = _compile(conn, stmt)
    text, args = _args(c, params)
    try:
        rows = cur.execute(text, args).fetchall()
    except sqlite3.Error as e:
        raise _wrap(conn, text, args, e) from e
    assert c.row is not None
    return [c.row(r) for r in rows]


def execute(conn: Connection, stmt: Any, params: Mapping[str, Any] | None = None) -> int:
    """One DML statement; returns the rows it matched."""
    cur = raw_cursor(conn)
    if cur is None:
        return int(conn.execute(stmt, dict(params or {})).rowcount)
    c = _compile(conn, stmt)
    text, args = _args(c, params or {})
    try:
        return int(cur.execute(text, args).rowcount)
    except sqlite3.Error as e:
        raise _wrap(conn, text, args, e) from e


def execute_many(conn: Connection, stmt: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """One DML statement over many parameter sets (no IN lists)."""
    cur = raw_cursor(conn)
    if cur is None:
        conn.execute(stmt, [dict(r) for r in rows])
        return
    c = _compile(conn, stmt)
    assert not c.expanding
    params = [_args(c, r)[1] for r in rows]
    try:
        cur.executemany(c.text, params)
    except sqlite3.Error as e:
        raise _wrap(conn, c.text, params, e) from e


def run_text(conn: Connection, text: str, params: Sequence[Any] | None) -> None:
    """Already compiled text over many positional (or named) parameter sets (``sql.bulk``);
    ``None``: once, without parameters."""
    cur = raw_cursor(conn)
    if cur is None:
        conn.exec_driver_sql(text, params)
        return
    try:
        if params is None:
            cur.execute(text)
        else:
            cur.executemany(text, params)
    except sqlite3.Error as e:
        raise _wrap(conn, text, params, e) from e
