"""A throwaway PostgreSQL cluster for the test runs: made with initdb in a temporary directory,
listening only on a Unix socket there (no port to clash with anyone's), removed afterwards.

    python -m tests.postgres_cluster -- <command...>

runs the command with TALEWEAVER_TEST_DATABASE_URL set to the cluster's database and removes
the cluster when it ends. PostgreSQL refuses to run as root, so under root (./run_tests.sh in a
container) the server runs as the unprivileged user `nobody`.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import psycopg


def _installed_bin() -> Path:
    """The bin directory of the newest PostgreSQL installed by Debian's or Ubuntu's packages
    (15 on Debian 12, 16 on Ubuntu 24.04), or TALEWEAVER_PG_BIN."""
    if os.environ.get("TALEWEAVER_PG_BIN"):
        return Path(os.environ["TALEWEAVER_PG_BIN"])
    versions = [path.parent for path in Path("/usr/lib/postgresql").glob("*/bin/initdb") if path.parts[-3].isdigit()]
    return max(versions, key=lambda bin_dir: int(bin_dir.parent.name), default=Path("/usr/lib/postgresql/15/bin"))


BIN = _installed_bin()
USER = "taleweaver"
DATABASE = "taleweaver"
UNPRIVILEGED_ID = 65534  # nobody (and nogroup): a user every Debian system has


def available() -> bool:
    return (BIN / "initdb").exists() and (BIN / "postgres").exists()


def url_for(socket_dir: str, database: str = DATABASE, search_path: str | None = None) -> str:
    """A postgresql:// URL for the cluster's socket; with search_path, one schema of it."""
    url = f"postgresql://{USER}@/{database}?host={quote(socket_dir, safe='')}"
    if search_path:
        url += "&options=" + quote(f"-csearch_path={search_path}", safe="")
    return url


class PostgresCluster:
    """initdb, start, stop and remove one cluster."""

    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="taleweaver-pg-")
        self.data = os.path.join(self.directory, "data")
        self.process: subprocess.Popen | None = None
        self.url = url_for(self.directory)

    def _as_server_user(self, command: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return command
        return ["setpriv", f"--reuid={UNPRIVILEGED_ID}", f"--regid={UNPRIVILEGED_ID}", "--clear-groups", *command]

    def start(self) -> "PostgresCluster":
        if os.geteuid() == 0:
            os.chown(self.directory, UNPRIVILEGED_ID, UNPRIVILEGED_ID)
        subprocess.run(
            self._as_server_user([str(BIN / "initdb"), "-D", self.data, "-U", USER, "-A", "trust",
                                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self.log = open(os.path.join(self.directory, "postgres.log"), "ab")
        self.process = subprocess.Popen(
            self._as_server_user([
                str(BIN / "postgres"), "-D", self.data, "-k", self.directory, "-c", "listen_addresses=",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "max_connections=300", "-c", "shared_buffers=64MB",
            ]),
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(url_for(self.directory, "postgres"), autocommit=True) as conn:
                    conn.execute(f"CREATE DATABASE {DATABASE}")
                return self
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("PostgreSQL did not start:\n" + self.log_text())
                time.sleep(0.1)

    def log_text(self) -> str:
        with open(os.path.join(self.directory, "postgres.log"), "rb") as handle:
            return handle.read().decode("utf-8", "replace")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown; SIGTERM would wait for clients
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "PostgresCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print(__doc__)
        return 2
    if not available():
        print(f"PostgreSQL is not installed ({BIN}/initdb): run scripts/setup.sh --dev", file=sys.stderr)
        return 2
    with PostgresCluster() as cluster:
        env = {**os.environ, "TALEWEAVER_TEST_DATABASE_URL": cluster.url}
        return subprocess.run(argv, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
