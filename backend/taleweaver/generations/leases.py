"""Per-user caps of what holds a backend's answer open: running story generations and open proxied
streams (TALEWEAVER_USER_STREAMS; in multi-user mode 8 unless set, in single-user mode none unless
set), counted across workers and instances in the database. Each is a lease (table
stream_leases): taken in a short write transaction that first counts the user's live leases,
kept alive by its process's keeper (every REFRESH_SECONDS, one statement for all of the process's
leases, by the database's clock as heartbeats are) and given back when it ends. A dead process's
leases stop counting once they are older than registry.STALE_SECONDS, as its jobs do."""
from __future__ import annotations

import logging
import os
import threading
import time

from taleweaver.errors import ApiError
from taleweaver.generations import registry
from taleweaver.storage import db
from taleweaver.storage import dialect as db_dialect

log = logging.getLogger("taleweaver.generations")

REFRESH_SECONDS = 2.0
RETRY_AFTER_SECONDS = 5
_BATCH = 500  # leases one statement refreshes

_live: dict[int, object] = {}  # lease id -> the app whose database holds it, for this process's leases
_keepers: dict[int, threading.Thread] = {}
_keepers_lock = threading.Lock()


def cap_of(app) -> int:
    """How many leases a user may hold at once (0: no cap, and no lease is taken)."""
    return app.config.get("USER_STREAMS", 0)


def too_many(cap: int) -> ApiError:
    """429 for a user who holds `cap` leases already."""
    error = ApiError(
        429, "too_many_streams",
        f"You have {cap} story generations and streams running at once, the most this server allows "
        "each user; wait for one to end, or stop one, then try again.",
        hint=f"The server's operator sets this limit with TALEWEAVER_USER_STREAMS (now {cap}).",
    )
    error.retry_after = RETRY_AFTER_SECONDS
    return error


def take(conn, user_id: int, kind: str, cap: int) -> int | None:
    """A lease for the user (in the caller's write transaction), or 429 too_many_streams when the
    user holds `cap` live ones already; None when there is no cap. The caller keeps it alive with
    keep() once its transaction has committed."""
    if cap <= 0:
        return None
    conn.execute(f"DELETE FROM stream_leases WHERE user_id = ? AND heartbeat_at < {db_dialect.EPOCH_NOW} - ?",
                 (user_id, registry.STALE_SECONDS))  # a dead process's: they no longer count
    held = conn.execute("SELECT count(*) FROM stream_leases WHERE user_id = ?", (user_id,)).fetchone()[0]
    if held >= cap:
        raise too_many(cap)
    return conn.execute(
        f"INSERT INTO stream_leases (user_id, kind, owner, heartbeat_at) VALUES (?, ?, ?, {db_dialect.EPOCH_NOW})",
        (user_id, kind, registry.owner_id())).lastrowid


def take_alone(app, conn, user_id: int, kind: str) -> int | None:
    """take() in a transaction of its own, kept alive from then on."""
    cap = cap_of(app)
    if cap <= 0:
        return None
    with db.write_transaction(conn):
        lease = take(conn, user_id, kind, cap)
    keep(app, lease)
    return lease


def keep(app, lease: int | None) -> None:
    """This process keeps the lease alive until give_back()."""
    if lease is None:
        return
    _live[lease] = app
    _keeper().ensure_running()


def give_back(app, lease: int | None) -> None:
    """The stream ended: its lease goes (if the database cannot be told now, it ages out)."""
    if lease is None:
        return
    _live.pop(lease, None)
    try:
        with db.borrowed(app) as conn:
            conn.execute("DELETE FROM stream_leases WHERE id = ?", (lease,))
    except Exception:  # noqa: BLE001 - no longer refreshed, it stops counting after STALE_SECONDS
        log.warning("could not give back stream lease %s; it stops counting in %g s", lease,
                    registry.STALE_SECONDS, exc_info=True)


class _Keeper(threading.Thread):
    """Refreshes the heartbeat of every lease of this process."""

    def __init__(self):
        super().__init__(name="taleweaver-lease-keeper", daemon=True)
        self.started_lock = threading.Lock()

    def ensure_running(self) -> None:
        with self.started_lock:
            if self.ident is None:
                self.start()

    def run(self) -> None:
        while True:
            time.sleep(REFRESH_SECONDS)
            by_app: dict[int, tuple] = {}
            for lease, app in list(_live.items()):
                by_app.setdefault(id(app), (app, []))[1].append(lease)
            for app, leases in by_app.values():
                try:
                    _refresh(app, leases)
                except Exception:  # noqa: BLE001 - tried again at the next round, well within STALE_SECONDS
                    log.warning("could not refresh %d stream lease(s)", len(leases), exc_info=True)


def _refresh(app, leases: list[int]) -> None:
    with db.borrowed(app) as conn:
        for start in range(0, len(leases), _BATCH):
            batch = leases[start:start + _BATCH]
            conn.execute(f"UPDATE stream_leases SET heartbeat_at = {db_dialect.EPOCH_NOW} "
                         f"WHERE id IN ({', '.join('?' * len(batch))})", tuple(batch))


def _keeper() -> _Keeper:
    """This process's keeper (made after gunicorn forks the worker)."""
    with _keepers_lock:
        keeper = _keepers.get(os.getpid())
        if keeper is None:
            keeper = _keepers[os.getpid()] = _Keeper()
        return keeper
