"""The service under gunicorn, as production runs it, with the benchmark's settings."""

import os
import re
import runpy
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUNICORN_CONF = ROOT / "gunicorn.conf.py"
HOST = "127.0.0.1"
SERVER_START_TIMEOUT = 30.0


def configure_environment(database_url: str, redis_url: str, *, redis_cluster: bool) -> None:
    """The benchmark's settings in this process's environment: the servers inherit them, and
    the seeding, run here, uses the same database and Redis through the same settings. The
    database directly: a server that goes through PgBouncer is given its URL and
    DATABASE_TRANSACTION_POOLING=1 on top (benchmarks/setups.py)."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "benchmark-only-not-a-secret",
            "DJANGO_ALLOWED_HOSTS": HOST,
            "DATABASE_URL": database_url,
            "DATABASE_TRANSACTION_POOLING": "0",
            "REDIS_URL": redis_url,
            "REDIS_CLUSTER": "1" if redis_cluster else "0",
        }
    )


def gunicorn_command(port: int, workers: int) -> list[str]:
    """The repository's gunicorn.conf.py when it has one (command-line options override its
    bind and workers), else the equivalent options: sync workers, no access log."""
    command = [sys.executable, "-m", "gunicorn"]
    if GUNICORN_CONF.exists():
        command += ["--config", str(GUNICORN_CONF)]
    else:
        command += ["--worker-class", "sync", "--timeout", "30"]
    return [*command, "--workers", str(workers), "--bind", f"{HOST}:{port}", "apiproject.wsgi"]


def gunicorn_description(workers: int) -> str:
    """What serves the measured rounds, as the report and the measurements file say it."""
    if not GUNICORN_CONF.exists():
        return f"gunicorn, {workers} sync workers"
    conf = runpy.run_path(str(GUNICORN_CONF))
    worker_class = str(conf.get("worker_class", "sync")).rpartition(".")[2]
    return (
        f"gunicorn.conf.py: {workers} workers ({worker_class}) x {conf.get('threads', 1)} threads"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextmanager
def server(workers: int, **extra_environment: str) -> Iterator[tuple[str, int]]:
    """A gunicorn answering /healthz: its base URL and its master's pid. Its log goes to a
    file that is kept, so that a server that did not start can be looked into."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)
    process = subprocess.Popen(
        gunicorn_command(port, workers),
        cwd=ROOT,
        env={**os.environ, **extra_environment},
        stdout=log,
        stderr=log,
    )
    base_url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            try:
                urllib.request.urlopen(f"{base_url}/healthz", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    sys.exit(f"gunicorn did not start; its log: {log.name}")
                time.sleep(0.1)
        yield base_url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def worker_peak_memory_mib(master_pid: int) -> list[float]:
    """Each worker's peak resident memory (VmHWM), in MiB."""
    try:
        children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    except OSError:
        return []
    peaks = []
    for child in children:
        try:
            status = Path(f"/proc/{child}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        if match:
            peaks.append(int(match.group(1)) / 1024)
    return peaks
