"""A local cluster: N daphne replicas on loopback behind a real nginx, against
PostgreSQL and Redis. Used by `manage.py cluster`, the cluster tests and the benchmark.
Every process it starts, it stops."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
NGINX_TEMPLATE = BASE_DIR / "deploy" / "nginx.conf"


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        raise RuntimeError("nginx is not installed: apt-get install nginx-light (make test does it)")
    return found


def render_nginx_conf(*, ports: list[int], listen: int, static_root: Path, pid_file: Path) -> str:
    text = NGINX_TEMPLATE.read_text()
    upstream = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in ports)
    text = re.sub(r"# @upstream\n.*?# @end-upstream", upstream, text, flags=re.S)
    text = re.sub(r"listen \d+;  # @listen", f"listen 127.0.0.1:{listen};", text)
    text = re.sub(r"alias \S+;  # @static", f"alias {static_root}/;", text)
    return text.replace("pid /tmp/chat-nginx.pid;", f"pid {pid_file};")


def wait_http(url: str, timeout: float = 20.0, want: int = 200) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == want:
                    return
        except Exception as exc:  # noqa: BLE001
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer {want} within {timeout}s ({last})")


@dataclass
class Replica:
    port: int
    process: subprocess.Popen | None = None
    log: Path | None = None


@dataclass
class LocalCluster:
    replicas: int = 3
    base_port: int = 8101
    nginx_port: int = 8100
    env: dict = field(default_factory=dict)
    replica_env: dict = field(default_factory=dict)  # replica index -> environment of that replica only
    workdir: Path | None = None
    nginx: subprocess.Popen | None = None
    members: list[Replica] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    def process_env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chat")
        env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
        env.setdefault("DJANGO_SECRET_KEY", "local-cluster-secret-key-change-me-0123456789abcdefghijklmnop")
        env.setdefault("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
        env["DJANGO_BEHIND_PROXY"] = "1"
        env.update(self.env)
        return env

    def manage(self, *args: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=self.process_env(), check=True)

    def start(self, migrate: bool = True) -> "LocalCluster":
        self.workdir = Path(tempfile.mkdtemp(prefix="chat-cluster-"))
        if migrate:
            self.manage("migrate", "--noinput", "-v", "0")
        self.manage("collectstatic", "--noinput", "-v", "0")
        self.members = [Replica(self.base_port + i) for i in range(self.replicas)]
        for i in range(self.replicas):
            self.start_replica(i, wait=False)
        for member in self.members:
            wait_http(f"http://127.0.0.1:{member.port}/healthz")
        conf = self.workdir / "nginx.conf"
        conf.write_text(
            render_nginx_conf(
                ports=[m.port for m in self.members],
                listen=self.nginx_port,
                static_root=BASE_DIR / "staticfiles",
                pid_file=self.workdir / "nginx.pid",
            )
        )
        self.nginx = subprocess.Popen(
            [nginx_binary(), "-c", str(conf), "-p", str(self.workdir), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "nginx.log", "wb"),
        )
        wait_http(f"{self.url}/healthz")
        return self

    def start_replica(self, index: int, wait: bool = True) -> None:
        member = self.members[index]
        member.log = self.workdir / f"replica-{index}.log"
        member.process = subprocess.Popen(
            # The contract's command line, exactly as an operator runs it.
            [str(Path(sys.executable).with_name("daphne")), "-b", "127.0.0.1", "-p", str(member.port), "--proxy-headers",
             "chatapp.asgi:application"],
            cwd=BASE_DIR,
            env={**self.process_env(), **self.replica_env.get(index, {})},
            stdout=subprocess.DEVNULL,
            stderr=open(member.log, "ab"),
        )
        if wait:
            wait_http(f"http://127.0.0.1:{member.port}/healthz")

    def signal_replica(self, index: int, sig: int, wait: float = 10.0) -> int | None:
        process = self.members[index].process
        process.send_signal(sig)
        try:
            return process.wait(wait)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def stop(self) -> None:
        for member in self.members:
            if member.process and member.process.poll() is None:
                member.process.send_signal(signal.SIGTERM)
        if self.nginx and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
        for member in self.members:
            if member.process:
                try:
                    member.process.wait(10)
                except subprocess.TimeoutExpired:
                    member.process.kill()
        if self.nginx:
            try:
                self.nginx.wait(5)
            except subprocess.TimeoutExpired:
                self.nginx.kill()

    def logs(self) -> str:
        out = []
        for i, member in enumerate(self.members):
            if member.log and member.log.exists():
                out.append(f"--- replica {i} ---\n" + member.log.read_text(errors="replace")[-4000:])
        return "\n".join(out)
