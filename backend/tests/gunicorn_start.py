"""gunicorn.conf.py's start-up hook, run as gunicorn runs it (the environment is the caller's)."""
import importlib.util
import os

CONF = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gunicorn.conf.py")


def on_starting(bind: str) -> None:
    """Load gunicorn.conf.py afresh and call its on_starting for a server bound to `bind`."""
    spec = importlib.util.spec_from_file_location("gunicorn_conf", CONF)
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)

    class Server:
        class cfg:
            pass

    Server.cfg.bind = [bind]
    conf.on_starting(Server)
