"""Our own code in fresh processes: settings are read at startup, and operators run
commands from a shell."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
# Whatever configures the service; a fresh process gets only what a test passes.
CONFIGURATION_PREFIXES = ("DJANGO_", "API_", "REDIS_", "DATABASE_")


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


@contextmanager
def serving(command: list[str], **environment: str) -> Iterator[str]:
    """A server of ours (`command` under our interpreter, "{port}" in it filled in) on a free
    loopback port, configured by `environment` alone; yields its base URL once /healthz
    answers, and stops it afterwards."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, *(part.format(port=port) for part in command)],
        cwd=PROJECT_DIR,
        env=project_environment(**environment),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{base_url}/healthz", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=10)
