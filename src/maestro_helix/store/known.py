"""What the writer's connection knows of the database without reading it again (SQLite only).

Every transaction of a step-commit batch read the audit chain's head, the paused workflows and the
track records it folds, although in the common case nothing but this connection wrote them since
its last transaction. SQLite's ``PRAGMA data_version`` changes exactly when another connection
(another process, this process's heartbeat) has committed since this connection last asked; read
at the start of each transaction, under the write lock, it says whether what this connection read
and wrote before still stands. Anything this connection writes outside the grouped writes (a
general operation that changed a row: a transition, a decision; SQLite's ``total_changes`` says)
and any transaction that does not commit forget it all. Nothing is known on other dialects:
PostgreSQL's transactions read as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from maestro_helix.core.route import TrackRecord
from maestro_helix.store import driver_sql

__all__ = ["Known"]


@dataclass
class Known:
    """Values as this connection last read or wrote them, valid while ``version`` stands."""

    version: int | None = None
    head: tuple[int, str] | None = None  # the audit chain's (seq, hash)
    paused: frozenset[str] | None = None  # the paused workflows
    track: dict[tuple[str, str], TrackRecord] = field(default_factory=dict)

    def begin(self, conn: Connection) -> None:
        """At the start of a transaction (its write lock held): forget everything if another
        connection has committed since this one last asked."""
        cur = driver_sql.raw_cursor(conn)
        if cur is None:
            return
        version = int(cur.execute("PRAGMA data_version").fetchone()[0])
        if version != self.version:
            self.forget()
            self.version = version

    @staticmethod
    def changes(conn: Connection) -> int | None:
        """Rows this connection has written so far (SQLite's ``total_changes``), or None."""
        cur = driver_sql.raw_cursor(conn)
        return None if cur is None else int(cur.connection.total_changes)

    def forget(self) -> None:
        self.head, self.paused = None, None
        self.track.clear()
