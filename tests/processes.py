"""Our own code in fresh processes: settings are read at startup, and operators run
commands from a shell."""

import os
import socket
import subprocess
import sys
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
