"""gunicorn settings for ./run.sh: gevent workers, so that a stream costs a greenlet, not a thread.

Why gevent (bench/, this 2-core machine, 1,000 streams opened at once through /proxy/llm/v1):
- gthread, 2 workers x 128 threads: each open stream holds a thread for its whole length, so
  the streams past 256 wait for one to free up: time to first token p99 24.5 s.
- gthread, 2 x 600 threads: p99 1.24 s, 317 MB, and every thread's stack and GIL hand-offs.
- gevent, 2 workers x 4,000 connections: p99 0.52 s against 0.21 s sent to the upstream
  directly, 179 MB; the non-streamed added latency unchanged (+0.74 ms against +0.73).
  (DESIGN.md section 10, a quiet machine.) Again with bench/burst.py and bench/workers_ab.py on
  2026-12-01 while other engineers' suites kept the 2 cores busy (load average 5 to 9), so
  every figure is stretched: gevent p99 2.94 s against 0.92 s direct and 0.96 s through nginx
  alone, 0 failed, 203 MB; gthread 2 x 128 p99 21.0 s; non-streamed added latency p50 +2.58 ms
  gevent against +2.49 ms gthread in one interleaved loop (the same, within that noise).
  Quiet, at 8e7e336 (transport.SocketTransport, gc.freeze below): gevent p99 1.08 s against
  0.47 s direct, 201 MB, 0 failed, 3.7 s of server CPU for the burst; non-streamed added p50
  1.64 ms gevent against 1.67 ms gthread (bench/results/burst.md, workers_ab.json).
- gevent_pywsgi (gevent's own HTTP server under gunicorn), 2026-12-01, interleaved: 18% less CPU
  per stream opened one after another (1.89 against 2.32 ms), but in the burst the same p99 over
  direct (+0.83 to +1.04 s against +0.80 to +1.11 s) and server CPU (4.1-4.3 against 4.2-4.6 s),
  so gunicorn's own gevent worker stays (bench/README.md, "What was tried for the burst").
- uWSGI 2.0.31 with its gevent loop (C HTTP parser and writer), 2026-12-01, 4 interleaved pairs:
  p99 over direct +0.86 to +1.22 s against gunicorn's +0.67 to +0.88 s, the same server CPU
  (3.5-4.1 s against 3.7-4.1 s), 273 against 201 MB: no gain from a C server around the same
  app, so gunicorn stays (bench/README.md).
- The floors (bench/floors.py, 2026-12-01, Intel Xeon, 6 interleaved rounds): a bare WSGI relay
  under this worker +0.36 s over direct at p99 (median), the same relay as a Flask view +0.53 s,
  Taleweaver +0.59 s. gunicorn's own part (the bare relay) is within the issue's 0.5 s; Flask's
  dispatch takes the rest of it, on 2 cores shared with the client and the upstream.
What monkey-patching changes, and how the code meets it:
- thread-locals become per greenlet, i.e. per request: taleweaver/storage/db.py keeps idle SQLite
  connections per process (not per thread), so a request reuses one instead of opening its own;
- a blocking C call stalls every greenlet of the worker: password hashing runs in gevent's
  pool of real threads (taleweaver/web/auth.py); SQLite queries and Fernet are short and stay
  inline;
- the upstream client: socket_transport.SocketTransport keeps up to 1,024 idle keep-alive sockets per
  backend and worker (as many as streams may end at once); its sockets are gevent's because
  the standard library is patched, and geventhttpclient's C parser reads the answers. It costs
  about a third of urllib3's CPU per streamed request (0.31 ms against 0.90 ms here), and a
  burst is bound by that CPU;
- psycopg 3 (PostgreSQL) waits on its sockets through gevent by itself (3.1.14 and later);
- every new upstream connection resolves its host name: gevent's default resolver hands each
  lookup to a thread (78 us a call here, and a thread hand-off per stream in a burst), c-ares
  answers in the loop (6.5 us; it reads /etc/hosts too). GEVENT_RESOLVER=thread goes back.
The standard library is patched here, before on_starting imports the app into the master, so
that no lock or socket is made unpatched and then inherited by the workers (a module-level
threading.Lock made before patching would block the whole worker, not one greenlet) -- but only
when gunicorn itself loads this file: a test that imports it to call on_starting must not turn
its own process into gevent's.
TALEWEAVER_WORKER_CLASS=gthread goes back to threads (TALEWEAVER_THREADS per worker).
"""
import os
import sys

worker_class = os.environ.get("TALEWEAVER_WORKER_CLASS", "gevent")
if worker_class == "gevent" and "gunicorn" in os.path.basename(sys.argv[0]):
    os.environ.setdefault("GEVENT_RESOLVER", "ares")
    from gevent import monkey

    monkey.patch_all()

chdir = os.path.dirname(os.path.abspath(__file__))
bind = f"{os.environ.get('TALEWEAVER_HOST', '127.0.0.1')}:{os.environ.get('TALEWEAVER_PORT', '5000')}"
# One worker per core.
workers = int(os.environ.get("TALEWEAVER_WORKERS", "2"))
# gevent: open connections per worker (a stream is one); beyond it gunicorn stops accepting.
worker_connections = int(os.environ.get("TALEWEAVER_WORKER_CONNECTIONS", "4000"))
# gthread only: threads per worker.
threads = int(os.environ.get("TALEWEAVER_THREADS", "128"))
# Both workers' heartbeats run beside the requests, so long streams are not killed by it.
timeout = 120
# A stopping worker waits this long for its open requests (plain streams may finish meanwhile;
# story generations end at once, every word kept: taleweaver/generations/shutdown.py). Keep it
# below what stops the server (docker stop waits 10 s before its SIGKILL, systemd 90 s).
graceful_timeout = int(os.environ.get("TALEWEAVER_GRACEFUL_TIMEOUT", "8"))
keepalive = 5
# Connections waiting to be accepted: a burst of 1,000 at once must not be refused by the kernel.
backlog = 4096
accesslog = os.environ.get("TALEWEAVER_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("TALEWEAVER_LOG_LEVEL", "info").lower()


def on_starting(server):
    """Refuse a non-loopback bind in single-user mode unless overridden, and PostgreSQL without
    shared keys; warn about the Host allowlist, and about a PostgreSQL that cannot be reached."""
    import logging

    from taleweaver.storage import db
    from taleweaver.web import security
    from taleweaver.web.app import check_bind_address, create_app

    host = server.cfg.bind[0].rsplit(":", 1)[0]
    app = create_app()
    check_bind_address(host, app)
    for warning in security.startup_warnings(app.config):
        logging.getLogger("taleweaver.security").warning(warning)
    unreachable = db.startup_warning(app)
    if unreachable:
        logging.getLogger("taleweaver.database").warning(unreachable)

# Several servers (tests, benchmarks) may run side by side; none needs gunicorn's control socket.
control_socket_disable = True


def post_worker_init(worker):
    """Freeze what the worker holds after loading the app (modules, the app, its config): the
    collector then never scans it again. In a burst of 1,000 streams a full collection over
    those objects stalled a worker for about 70 ms (every stream of that worker waits for it);
    with them frozen there was none (bench/, gc callbacks in a worker)."""
    import gc

    gc.freeze()
    _watch_for_shutdown(worker)


def worker_int(worker):
    """Ctrl+C (SIGINT) or SIGQUIT: the worker exits right after this, and the master kills it
    2 s later (shutdown.at_once)."""
    from taleweaver.generations import shutdown

    shutdown.at_once()


# How often a worker looks whether it has been told to stop (cheap: one attribute read).
SHUTDOWN_CHECK_SECONDS = 0.25


def _watch_for_shutdown(worker):
    """When the worker is told to stop (SIGTERM; gunicorn sets `worker.alive` false), its story
    generations end as interrupted with every word kept and plain streams still open just before
    its graceful time runs out end with an error that says so (shutdown.graceful). Otherwise
    their streams keep the worker in its graceful wait until the master's SIGKILL, which cuts
    them, loses a generation's last words and leaves it marked running."""
    import threading
    import time

    from taleweaver.generations import shutdown

    def watch():
        while worker.alive:
            time.sleep(SHUTDOWN_CHECK_SECONDS)
        shutdown.graceful(worker.cfg.graceful_timeout)

    threading.Thread(target=watch, name="taleweaver-shutdown-watch", daemon=True).start()
