"""Running the real Taleweaver server (gunicorn, as ./run.sh does) for whole-system tests."""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
# Set by run_tests.sh's PostgreSQL pass (tests/postgres_cluster.py): every server then runs on
# a schema of its own in that database, with shared encryption keys, instead of a SQLite file.
TEST_DATABASE_URL = os.environ.get("TALEWEAVER_TEST_DATABASE_URL")
TEST_SECRET_KEYS = "q0xX5cS6m6tq1sTj1FZ0oQd0PZ8rj8mYb3m3wF5c1hA="
_schemas = iter(range(1, 1_000_000))


def new_postgres_database() -> str:
    """A URL of a new, empty schema of the PostgreSQL pass's database."""
    import psycopg
    from urllib.parse import quote

    schema = f"system_{os.getpid()}_{next(_schemas)}"
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return TEST_DATABASE_URL + "&options=" + quote(f"-csearch_path={schema}", safe="")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _uts_namespace_command() -> list[str]:
    """unshare's command for a UTS namespace of one's own (root's, or an unprivileged user's)."""
    return ["unshare", "--uts"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--uts"]


def can_run_as_another_host() -> bool:
    """Whether a server can be started under a host name of its own (a UTS namespace), standing in
    for an instance on another machine."""
    try:
        return subprocess.run([*_uts_namespace_command(), "hostname", "taleweaver-probe"],
                              capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def network_is_loopback_only() -> bool:
    """True inside the loopback-only network namespace run_tests.sh runs these tests in."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


class TaleweaverServer:
    """The real server process on a free loopback port with its own database and key file."""

    def __init__(self, env: dict | None = None, workers: int = 2, threads: int = 32,
                 database_url: str | None = None, hostname: str | None = None, backend: Path | None = None):
        # With a hostname the server runs in a UTS namespace of its own under that name: to the
        # other instances it is on another machine, whose processes they cannot look up.
        self.hostname = hostname
        self.backend = backend or ROOT / "backend"  # another version's backend/ (bench/bounds.py)
        self.tmp = tempfile.TemporaryDirectory(prefix="taleweaver-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = os.path.join(self.tmp.name, "taleweaver.db")
        self.log_path = os.path.join(self.tmp.name, "server.log")
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TALEWEAVER_")},
            "TALEWEAVER_PORT": str(self.port),
            "TALEWEAVER_HOST": "127.0.0.1",
            "TALEWEAVER_DATABASE": self.database,
            "TALEWEAVER_SECRET_KEY_FILE": os.path.join(self.tmp.name, "secret.key"),
            "TALEWEAVER_WORKERS": str(workers),
            "TALEWEAVER_THREADS": str(threads),
            "TALEWEAVER_LOG_LEVEL": "DEBUG",
            "TALEWEAVER_ACCESS_LOG": "-",
            "TALEWEAVER_WSL_FALLBACK": "0",
        }
        if database_url is None and TEST_DATABASE_URL:
            database_url = new_postgres_database()
        self.database_url = database_url
        if database_url:
            self.env["TALEWEAVER_DATABASE_URL"] = database_url
            self.env["TALEWEAVER_SECRET_KEYS"] = TEST_SECRET_KEYS
        self.env.update(env or {})
        self.process: subprocess.Popen | None = None

    def start(self) -> "TaleweaverServer":
        self._log = open(self.log_path, "ab")
        command = [str(GUNICORN), "--config", str(self.backend / "gunicorn.conf.py"), "app:create_app()"]
        if self.hostname:  # unshare and sh exec in turn: the process is still gunicorn's master
            command = [*_uts_namespace_command(), "sh", "-c", 'hostname "$0" && exec "$@"', self.hostname, *command]
        self.process = subprocess.Popen(
            command,
            cwd=str(self.backend),
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                if requests.get(self.url + "/api/health", timeout=1).ok:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start within 30 s:\n{self.log_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "_log", None):
            self._log.close()

    def close(self) -> None:
        self.stop()
        self.tmp.cleanup()

    def log_text(self) -> str:
        with open(self.log_path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")

    @property
    def on_postgres(self) -> bool:
        return bool(self.env.get("TALEWEAVER_DATABASE_URL"))

    def query(self, sql: str, params=()) -> list[tuple]:
        """Rows of a query on the server's database, from outside the server (SQLite's SQL;
        its `?` placeholders become psycopg's on PostgreSQL)."""
        if self.on_postgres:
            import psycopg

            with psycopg.connect(self.env["TALEWEAVER_DATABASE_URL"], autocommit=True) as conn:
                return [tuple(row) for row in conn.execute(sql.replace("?", "%s"), params).fetchall()]
        import sqlite3

        with sqlite3.connect(self.database) as conn:
            return conn.execute(sql, params).fetchall()

    def database_bytes(self) -> bytes:
        """The database file and its write-ahead log, as they lie on disk; on PostgreSQL every
        table's rows as the server returns them."""
        if self.on_postgres:
            tables = self.query("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
            return "\n".join(str(row) for (table,) in tables for row in self.query(f'SELECT * FROM "{table}"')).encode()
        data = b""
        for suffix in ("", "-wal", "-shm"):
            path = self.database + suffix
            if os.path.exists(path):
                with open(path, "rb") as handle:
                    data += handle.read()
        return data

    # -- API helpers -------------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return requests.request(method, self.url + path, **kwargs)

    def chat(self, content: str = "Tell me a story", stream: bool = False, **extra) -> requests.Response:
        """A chat completion through the proxy with one user message."""
        return self.api(
            "POST",
            "/proxy/llm/v1/chat/completions",
            json={"messages": [{"role": "user", "content": content}], "stream": stream, **extra},
            stream=stream,
        )

    def configure(self, backend_type: str, config: dict, default_model: str | None = None) -> dict:
        response = self.api(
            "POST",
            "/api/settings/llm",
            json={"backend_type": backend_type, "config": config, "default_model": default_model},
        )
        assert response.status_code == 200, response.text
        return response.json()


def configure_fake(server: TaleweaverServer, fake, default_model: str | None = None, **extra) -> dict:
    """Point the server's active backend at a fake LLM server: the fake's kind is the backend type."""
    if fake.kind == "chatgpt":
        config = {"base_url": fake.url, "api_key": fake.api_key or "sk-taleweaver-test-key-000"}
    elif fake.kind == "openai_compatible":
        config = {"base_url": fake.url, **({"api_key": fake.api_key} if fake.api_key else {})}
    else:
        config = {"url": fake.url}
    config.update(extra)
    return server.configure(fake.kind, config, default_model)


def sse_events(response: requests.Response):
    """The data payloads of a streamed response's SSE events, as they arrive."""
    for line in response.iter_lines(chunk_size=None):
        if line.startswith(b"data: "):
            data = line[6:]
            yield data.decode() if data == b"[DONE]" else json.loads(data)


def sse_events_with_ids(response: requests.Response):
    """(id, data) of a streamed response's SSE events as they arrive; id is None when absent."""
    event_id = None
    for line in response.iter_lines(chunk_size=None):
        if line.startswith(b"id: "):
            event_id = int(line[4:])
        elif line.startswith(b"data: "):
            data = line[6:]
            yield event_id, (data.decode() if data == b"[DONE]" else json.loads(data))
            event_id = None


def delta_text(events) -> str:
    """The content text carried by (id, chunk) events."""
    return "".join(
        (data["choices"][0]["delta"].get("content") or "")
        for _, data in events
        if isinstance(data, dict) and data.get("choices")
    )


def wait_for(condition, timeout=20.0, interval=0.05):
    """The condition's first true value, asked every `interval` seconds; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def prose(count: int, seed: int) -> str:
    """`count` characters of words in sentences and paragraphs, the same for the same seed (a
    story's text, for tests and benchmarks of what storing it costs)."""
    rnd, parts, size = random.Random(seed), [], 0
    while size < count:
        word = "".join(rnd.choice(string.ascii_lowercase) for _ in range(rnd.randint(2, 9)))
        end = rnd.choice([" ", " ", " ", " ", ". ", ".\n\n"])
        parts.append(word + end)
        size += len(word) + len(end)
    return "".join(parts)[:count]


def new_story(server: TaleweaverServer, premise: str, **fields) -> dict:
    """A story created through the API (201), as the API returns it."""
    response = server.api("POST", "/api/stories", json={"premise": premise, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def story_of(server: TaleweaverServer, story_id: int) -> dict:
    """The story as the API shows it now."""
    return server.api("GET", f"/api/stories/{story_id}").json()


def kill_whole_server(server: TaleweaverServer) -> None:
    """SIGKILL the gunicorn master and every worker at once, as a power cut or the OOM killer would."""
    import psutil

    master = psutil.Process(server.process.pid)
    processes = [master, *master.children(recursive=True)]
    for process in processes:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=10)
    server.process.wait()
    server._log.close()
