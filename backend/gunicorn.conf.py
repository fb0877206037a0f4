"""gunicorn settings for ./run.sh: threads, so that every stream is forwarded as it arrives."""
import os

chdir = os.path.dirname(os.path.abspath(__file__))
bind = f"{os.environ.get('TALEWEAVER_HOST', '127.0.0.1')}:{os.environ.get('TALEWEAVER_PORT', '5000')}"
worker_class = "gthread"
# One worker per core; each open stream holds one thread for its whole length, so 2 x 128
# threads serve 200 concurrent streams with none refused (bench/: 0 failures, 153 MB RSS in all).
workers = int(os.environ.get("TALEWEAVER_WORKERS", "2"))
threads = int(os.environ.get("TALEWEAVER_THREADS", "128"))
# gthread's heartbeat runs beside the request threads, so long streams are not killed by it.
timeout = 120
graceful_timeout = 10
keepalive = 5
accesslog = os.environ.get("TALEWEAVER_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("TALEWEAVER_LOG_LEVEL", "info").lower()


def on_starting(server):
    """Refuse a non-loopback bind in single-user mode unless overridden; warn about the Host allowlist."""
    import logging

    import security
    from app import check_bind_address, create_app

    host = server.cfg.bind[0].rsplit(":", 1)[0]
    app = create_app()
    check_bind_address(host, app)
    for warning in security.startup_warnings(app.config):
        logging.getLogger("taleweaver.security").warning(warning)

# Several servers (tests, benchmarks) may run side by side; none needs gunicorn's control socket.
control_socket_disable = True
