"""Stop: a generation's job is asked to end, wherever it runs, and the text so far is kept. In the
job's own process its upstream is aborted at once; a job of another worker or instance sees the
request at its writer's next round."""
from __future__ import annotations

import sqlite3
import time

from taleweaver.generations import ending
from taleweaver.generations import registry
from taleweaver.generations import rows
from taleweaver.generations import store
from taleweaver.storage import db

STOP_WAIT_SECONDS = 3.0  # how long a stop request waits for the job to say it stopped
_LOOK_SECONDS = 0.05  # between two looks at a job of another process


def stop(app, generation_id: int, user_id: int) -> sqlite3.Row | None:
    """Ask the job to stop and wait until it has (idempotent on an ended generation); borrows a
    connection for each look and holds none while it waits."""
    with db.borrowed(app) as conn:
        row = rows.get_row(conn, generation_id, user_id)
        if row is None or row["status"] != "running":
            return row
        store.request_stop(conn, generation_id)
    job = registry.live_job(generation_id)
    if job is not None:
        job.upstream.stop()  # same worker: the upstream is aborted at once
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while time.monotonic() < deadline:
        with db.borrowed(app) as conn:
            row = rows.get_row(conn, generation_id, user_id)
        if row is None or row["status"] != "running":
            return row
        job = registry.live_job(generation_id)
        if job is not None:
            job.wait_for_change(*job.persisted, _LOOK_SECONDS)  # woken by its end
        else:
            time.sleep(_LOOK_SECONDS)
    # The job did not answer (its worker is busy or gone): end it here; its text so far is kept.
    with db.borrowed(app) as conn:
        ending.end(conn, generation_id, "stopped")
        return rows.get_row(conn, generation_id, user_id)
