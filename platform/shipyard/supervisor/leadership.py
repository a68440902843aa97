"""Which supervisor leads when several control-plane nodes share one store: a lease row,
fenced by its epoch.

Every node runs a supervisor; one holds the lease (``supervisor_lease``, one row) and
leads, renewing it every ``duration / 3`` seconds; the others stand by and take it once
it has expired (at most ``duration`` seconds after the leader died, on the database's
clock, so the nodes' clocks never matter). Each takeover adds one to the lease's
``epoch``.

No two leaders, even across a pause (a stopped process, a network that went away): every
write transaction of the leader first reads the lease row (``Lease.fence``) and fails
with ``LeaseLost`` unless it still names this holder and epoch. On PostgreSQL that read
takes a key-share lock on the row, so a takeover (which locks the row ``FOR UPDATE``)
waits until the transaction ends, and no transaction of an old epoch commits after a new
one began; the leader's own renewal, a plain ``UPDATE`` of its expiry (a no-key-update
lock), does not wait for them, or one long transaction (a runner call inside it) would
cost the leader its lease. A leader stopped inside a transaction would keep its lock: its
connections end a transaction left idle for ``IDLE_IN_TRANSACTION`` seconds, so a
takeover then goes ahead. On SQLite, whose writers take the database's one write lock,
the read alone is enough.

What no database can fence is a runner's action (start, stop) made by a leader paused
between its fence check and the runner call; the new leader adopts what it finds on
record, so an instance started that way runs unrecorded until the runner's housekeeping
removes it.

A node is named by its host and an id kept in its home (``node_name``), so a supervisor
started again on the same node (the process tree restarts it only once the old one has
exited) takes the lease back at once instead of waiting for it to expire, while two
machines cloned with one host name still differ.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from shipyard.errors import ShipyardError, Unavailable
from shipyard.store import LeaseRow, Store

__all__ = ["LEASE_DURATION", "FencedStore", "Lease", "LeaseLost", "database_now", "node_name"]

log = logging.getLogger(__name__)

LEASE_DURATION = 6.0
"""Seconds a lease lasts unless renewed: a dead leader is replaced within this (and a
standby's poll interval)."""
IDLE_IN_TRANSACTION = 30.0
"""Seconds after which PostgreSQL ends a leader's transaction left idle (its process
stopped), releasing the lease row's lock. Longer than any runner call a transaction makes
(an instance's start)."""
TAKEOVER_LOCK_WAIT = 1.0
"""Seconds a standby waits for the lease row's lock before trying again later."""
_LEASE_ID = 1


class LeaseLost(Unavailable):
    """This supervisor no longer holds the lease: another one leads."""


def node_name(home: Path) -> str:
    """This node's name: its host's, and the id made for its home the first time."""
    path = home / "node-id"
    try:
        node_id = path.read_text().strip()
    except FileNotFoundError:
        node_id = ""
    if not node_id:
        home.mkdir(parents=True, exist_ok=True)
        fresh = home / f"node-id.{secrets.token_hex(4)}"
        fresh.write_text(secrets.token_hex(4) + "\n")
        try:
            os.link(fresh, path)  # the first process to make one wins
        except FileExistsError:
            pass
        finally:
            fresh.unlink()
        node_id = path.read_text().strip()
    return f"{socket.gethostname()}-{node_id}"


def database_now(session: Session) -> float:
    """Seconds since the epoch on the database's clock (this machine's for SQLite, whose
    writers all run here)."""
    if session.get_bind().dialect.name == "postgresql":
        return float(session.scalar(text("SELECT extract(epoch FROM clock_timestamp())")))
    return time.time()


class Lease:
    def __init__(self, store: Store, holder: str, duration: float = LEASE_DURATION) -> None:
        self.store = store
        self.holder = holder
        self.duration = duration
        self.epoch = 0
        """The epoch this holder leads in, 0 while it does not."""
        self._valid_until = 0.0

    def acquire_or_renew(self) -> bool:
        """Take the lease if it is free, expired or was this node's, or renew it; whether
        this holder leads now. A database that cannot be reached leaves the lease as it
        was believed held, until it would have expired."""
        asked = time.monotonic()
        try:
            with self.store.writing() as session:
                if session.get_bind().dialect.name == "postgresql":
                    session.execute(text(
                        f"SET LOCAL lock_timeout = '{round(TAKEOVER_LOCK_WAIT * 1000)}ms'"))
                epoch = self._claim(session)
        except (IntegrityError, SQLAlchemyError, ShipyardError) as exc:
            if self.held():
                log.warning("could not renew the supervisor's lease (%s); it lasts %.1f s more",
                            _short(exc), self._valid_until - time.monotonic())
            return self.held()
        if epoch == 0:
            if self.epoch:
                log.warning("the supervisor's lease was taken by another node")
            self.epoch = 0
            return False
        if epoch != self.epoch:
            log.info("this node leads now (lease epoch %d)", epoch)
        self.epoch = epoch
        # Counted from before the request: the database's expiry is never earlier.
        self._valid_until = asked + self.duration
        return True

    def _claim(self, session: Session) -> int:
        now = database_now(session)
        expires = now + self.duration
        if self.epoch and self._renewed(session, expires):
            return self.epoch
        row = session.get(LeaseRow, _LEASE_ID, with_for_update=True)
        if row is None:
            session.add(LeaseRow(id=_LEASE_ID, holder=self.holder, epoch=1, expires_at=expires))
            session.flush()
            return 1
        if row.holder == self.holder or row.expires_at <= now:
            if row.holder != self.holder:
                log.info("the lease of %s expired %.1f s ago: taking it", row.holder,
                         now - row.expires_at)
            row.holder = self.holder
            row.epoch += 1
            row.expires_at = expires
            return row.epoch
        return 0

    def _renewed(self, session: Session, expires: float) -> bool:
        """Push this holder's expiry on, if the row still names it in its epoch; by a
        plain ``UPDATE``, which does not wait for this leader's own fenced transactions
        (see the module's docstring)."""
        renewed = session.execute(update(LeaseRow).where(
            LeaseRow.id == _LEASE_ID, LeaseRow.holder == self.holder,
            LeaseRow.epoch == self.epoch).values(expires_at=expires))
        return bool(renewed.rowcount)  # type: ignore[attr-defined]

    def held(self) -> bool:
        """Whether this holder leads, as far as it can tell without asking the database
        (the fence is what makes sure)."""
        return self.epoch != 0 and time.monotonic() < self._valid_until

    def release(self) -> None:
        """Give the lease up at once (a clean stop), so a standby need not wait for it to
        expire."""
        if not self.epoch:
            return
        try:
            with self.store.writing() as session:
                session.execute(update(LeaseRow).where(
                    LeaseRow.id == _LEASE_ID, LeaseRow.holder == self.holder,
                    LeaseRow.epoch == self.epoch).values(expires_at=0.0))
        except (SQLAlchemyError, ShipyardError) as exc:
            log.warning("could not release the supervisor's lease: %s", _short(exc))
        self.epoch = 0

    def fence(self, session: Session) -> None:
        """Inside a write transaction: fail it unless this holder still leads in its
        epoch (see the module's docstring)."""
        query = select(LeaseRow.holder, LeaseRow.epoch).where(LeaseRow.id == _LEASE_ID)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(read=True, key_share=True)
        found = session.execute(query).first()
        if not self.epoch or found is None or tuple(found) != (self.holder, self.epoch):
            raise LeaseLost(
                f"this supervisor ({self.holder}, epoch {self.epoch}) no longer leads: "
                f"the lease is {tuple(found) if found else 'free'}"
            )


class FencedStore(Store):
    """The store a leading supervisor writes through: every write transaction checks the
    lease first (``Lease.fence``). Reads are as on any store."""

    def __init__(self, url: str, lease: Lease) -> None:
        super().__init__(url)
        self.lease = lease
        if not self.is_sqlite:
            _end_idle_transactions(self)

    @contextmanager
    def writing(self) -> Iterator[Session]:
        with super().writing() as session:
            self.lease.fence(session)
            yield session


def _end_idle_transactions(store: Store) -> None:
    @event.listens_for(store.engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET idle_in_transaction_session_timeout = "
                       f"'{round(IDLE_IN_TRANSACTION * 1000)}ms'")
        cursor.close()
        dbapi_connection.commit()


def _short(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]
