"""A real nginx (Debian's package) on loopback in front of Taleweaver instances, configured
with the repository's deploy/nginx/taleweaver-location.conf."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time

import requests

from tests.support import ROOT, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
LOCATION_CONF = ROOT / "deploy" / "nginx" / "taleweaver-location.conf"


def available() -> bool:
    return os.path.exists(NGINX)


class Nginx:
    """nginx in the foreground with a config of its own in a temporary directory."""

    def __init__(self, upstream_ports: list[int], server_name: str = "taleweaver.test"):
        self.tmp = tempfile.mkdtemp(prefix="taleweaver-nginx-")
        os.chmod(self.tmp, 0o755)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        servers = "\n".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;" for port in upstream_ports)
        user = "user root root;" if os.geteuid() == 0 else ""
        self.config = os.path.join(self.tmp, "nginx.conf")
        with open(self.config, "w") as handle:
            handle.write(f"""{user}
worker_processes 1;
daemon off;
pid {self.tmp}/nginx.pid;
error_log {self.tmp}/error.log info;
events {{ worker_connections 4096; }}
http {{
    access_log {self.tmp}/access.log;
    client_body_temp_path {self.tmp}/body;
    proxy_temp_path {self.tmp}/proxy;
    fastcgi_temp_path {self.tmp}/fastcgi;
    uwsgi_temp_path {self.tmp}/uwsgi;
    scgi_temp_path {self.tmp}/scgi;
    upstream taleweaver {{
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{self.port};
        server_name {server_name};
        include {LOCATION_CONF};
    }}
}}
""")
        self.process: subprocess.Popen | None = None

    def start(self) -> "Nginx":
        self.process = subprocess.Popen([NGINX, "-c", self.config, "-p", self.tmp],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("nginx exited:\n" + self.error_log())
            try:
                requests.get(self.url + "/api/health", timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("nginx did not start:\n" + self.error_log())

    def error_log(self) -> str:
        try:
            with open(os.path.join(self.tmp, "error.log")) as handle:
                return handle.read()
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)
