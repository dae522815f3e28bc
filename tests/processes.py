"""Our own code in fresh processes: settings are read at startup, and operators run
commands from a shell."""

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
# Whatever configures the service; a fresh process gets only what a test passes.
CONFIGURATION_PREFIXES = ("DJANGO_", "API_", "REDIS_", "DATABASE_")
SERVER_START_TIMEOUT = 20.0


def project_environment(**environment: str) -> dict[str, str]:
    """This process's environment with the service configured by `environment` alone."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(CONFIGURATION_PREFIXES)
    }
    env.update(DJANGO_SETTINGS_MODULE="apiproject.settings", **environment)
    return env


def run_python(args: list[str], **environment: str) -> subprocess.CompletedProcess:
    """`args` under our interpreter in the project directory (see project_environment)."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_DIR,
        env=project_environment(**environment),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def manage_py(*args: str, **environment: str) -> str:
    """`manage.py <args>` under our interpreter (see project_environment), which must exit 0;
    returns what it printed on stdout."""
    result = run_python(["manage.py", *args], **environment)
    assert result.returncode == 0, result.stderr
    return result.stdout


def migrate(**environment: str) -> None:
    """Migrates the database `environment` names. A SQLite file gets a copy of one migrated
    once per test process instead: `migrate` costs a process and seconds each time."""
    database_url = environment["DATABASE_URL"]
    if database_url.startswith(SQLITE_URL_PREFIX):
        shutil.copyfile(migrated_sqlite_template(), database_url.removeprefix(SQLITE_URL_PREFIX))
    else:
        manage_py("migrate", "-v0", **environment)


SQLITE_URL_PREFIX = "sqlite:///"
_migrated_sqlite_files: list[Path] = []


def migrated_sqlite_template() -> Path:
    if not _migrated_sqlite_files:
        directory = tempfile.mkdtemp(prefix="apiproject-migrated-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        template = Path(directory) / "db.sqlite3"
        database_url = f"{SQLITE_URL_PREFIX}{template}"
        manage_py("migrate", "-v0", DJANGO_SECRET_KEY="x", DATABASE_URL=database_url)
        _migrated_sqlite_files.append(template)
    return _migrated_sqlite_files[0]


def migrate_with_superuser(username: str, **environment: str) -> None:
    """Migrates the database `environment` names and adds the superuser `username` to it."""
    migrate(**environment)
    manage_py(
        "createsuperuser",
        "--noinput",
        "--username",
        username,
        "--email",
        "a@example.com",
        **environment,
    )


def python_output(script: str, **environment: str) -> list[str]:
    """The lines `script` prints under our interpreter (see project_environment), which must
    exit 0."""
    result = run_python(["-c", script], **environment)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Server:
    url: str  # http://127.0.0.1:<port>
    port: int
    log_path: Path | None  # its stdout and stderr, when the caller asked for them

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path else ""


@contextmanager
def serving_several(
    command: list[str],
    count: int,
    *,
    log_dir: Path | None = None,
    **environment: str,
) -> Iterator[list[Server]]:
    """`count` servers of ours (`command` under our interpreter, "{port}" in it filled in),
    each on a free loopback port of its own and configured by `environment` alone. With
    `log_dir`, each writes its output to `log_dir/server-<port>.log` (else it is dropped).
    Yields them once every one answers /healthz, and stops them all afterwards."""
    servers: list[tuple[Server, subprocess.Popen]] = []
    try:
        for _ in range(count):
            port = free_port()
            log_path = log_dir / f"server-{port}.log" if log_dir else None
            output = log_path.open("w") if log_path else subprocess.DEVNULL
            try:
                process = subprocess.Popen(
                    [sys.executable, *(part.format(port=port) for part in command)],
                    cwd=PROJECT_DIR,
                    env=project_environment(**environment),
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            finally:
                if log_path:
                    output.close()  # the server holds its own copy
            servers.append((Server(f"http://127.0.0.1:{port}", port, log_path), process))
        for server, process in servers:
            wait_until_healthy(server, process)
        yield [server for server, _ in servers]
    finally:
        for _, process in servers:
            process.terminate()
        for _, process in servers:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_healthy(server: Server, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=1):
                return
        except OSError as exc:
            if process.poll() is not None:
                raise RuntimeError(f"{server.url} exited:\n{server.log()}") from exc
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{server.url} did not answer /healthz:\n{server.log()}"
                ) from exc
            time.sleep(0.1)  # polling for the server to come up, bounded by the deadline


@contextmanager
def serving(
    command: list[str], *, log_dir: Path | None = None, **environment: str
) -> Iterator[str]:
    """One server of ours (see serving_several); yields its base URL."""
    with serving_several(command, 1, log_dir=log_dir, **environment) as (server,):
        yield server.url
