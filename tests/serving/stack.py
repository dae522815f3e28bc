"""The production stack of `make serve` (deploy/serve.sh), and a private PostgreSQL that a
test may freeze: started by the tests themselves, on free loopback ports, and stopped."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.processes import PROJECT_DIR, free_port, project_environment

NGINX = Path(os.environ.get("NGINX_PATH", "/usr/sbin/nginx"))
POSTGRESQL_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class PrivatePostgreSQL:
    """A throwaway cluster run by the `postgres` OS user (initdb refuses root)."""

    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def pids(self) -> list[int]:
        """The postmaster and every process it started (backends, checkpointer, ...)."""
        postmaster = int((self.directory / "data" / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                children.append(int(stat.parent.name))
        return [postmaster, *children]

    def signal_all(self, signum: int) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass


def _as_postgres(*args: str) -> None:
    subprocess.run(
        ["/usr/sbin/runuser", "-u", "postgres", "--", *args],
        check=True,
        capture_output=True,
        timeout=60,
    )


@contextmanager
def private_postgresql() -> Iterator[PrivatePostgreSQL]:
    directory = Path(tempfile.mkdtemp(prefix="apiproject-pg-"))
    shutil.chown(directory, "postgres", "postgres")
    cluster = PrivatePostgreSQL(directory=directory, port=free_port())
    data = str(directory / "data")
    _as_postgres(
        str(POSTGRESQL_BIN / "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "--no-sync"
    )
    options = (
        f"-p {cluster.port} -c listen_addresses=127.0.0.1 -k {directory} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    _as_postgres(
        str(POSTGRESQL_BIN / "pg_ctl"), "-D", data, "-o", options,
        "-l", str(directory / "log"), "-w", "start",
    )  # fmt: skip
    try:
        yield cluster
    finally:
        cluster.signal_all(signal.SIGCONT)  # a frozen cluster cannot stop
        _as_postgres(str(POSTGRESQL_BIN / "pg_ctl"), "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Answer:
    status: int | None  # None: no HTTP answer at all (connection dropped or refused)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0

    def json(self) -> dict:
        return json.loads(self.body)


def fetch(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    json_body: object | None = None,
    timeout: float = 30,
) -> Answer:
    """GET `url`, or POST `json_body` to it."""
    headers = dict(headers or {})
    data = None
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, answer_headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, body = error.code, error.headers, error.read()
    except OSError:
        return Answer(status=None, seconds=time.monotonic() - started)
    return Answer(
        status=status,
        headers={name.lower(): value for name, value in answer_headers.items()},
        body=body,
        seconds=time.monotonic() - started,
    )


def raw_request(port: int, data: bytes, *, timeout: float = 10) -> bytes:
    """Bytes sent as they are (malformed on purpose); whatever comes back until close."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(data)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


@dataclass
class Stack:
    base_url: str
    port: int
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics_directory(self) -> Path:
        """PROMETHEUS_MULTIPROC_DIR, in the runtime directory serve.sh announces."""
        match = re.search(r"gunicorn on (\S+)/gunicorn\.sock", self.log())
        assert match, "serve.sh did not announce its runtime directory"
        return Path(match[1]) / "metrics"


@contextmanager
def serving_stack(**environment: str) -> Iterator[Stack]:
    """deploy/serve.sh on a free port, configured by `environment` alone (plus a secret key
    and allowed host), yielded once /healthz answers through nginx; SIGTERM afterwards."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="apiproject-stack-", suffix=".log", delete=False)
    env = project_environment(
        DJANGO_SECRET_KEY="tests-only-not-a-secret",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        # One per test process: `make test`'s workers may run two stacks at once.
        DJANGO_STATIC_ROOT=str(Path(tempfile.gettempdir()) / f"apiproject-static-{os.getpid()}"),
        **environment,
    )
    env.update(PORT=str(port), PYTHON=str(PROJECT_DIR / ".venv" / "bin" / "python"))
    env.setdefault("GUNICORN_WORKERS", "2")
    process = subprocess.Popen(
        ["/usr/bin/bash", "deploy/serve.sh"], cwd=PROJECT_DIR, env=env, stdout=log, stderr=log
    )
    stack = Stack(f"http://127.0.0.1:{port}", port, process, Path(log.name))
    try:
        deadline = time.monotonic() + 90  # migrate and collectstatic come first
        while fetch(f"{stack.base_url}/healthz", timeout=2).status != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the stack did not start:\n{stack.log()[-3000:]}")
            time.sleep(0.2)
        yield stack
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        os.unlink(log.name)
