"""The load: wrk against one endpoint for some seconds, and what it measured."""

import os
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field

from benchmarks.endpoints import Endpoint

_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass
class Round:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int  # completed in the round
    # CPU ms per request in the round (benchmarks/cpu.py); None: not measured.
    service_cpu_ms: float | None = None
    redis_cpu_ms: float | None = None
    postgres_cpu_ms: float | None = None


@dataclass
class Result:
    endpoint: Endpoint
    rounds: list[Round] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(r, attribute) for r in self.rounds)

    def median_if_measured(self, attribute: str) -> float | None:
        """The median, or None when a round did not measure it."""
        values = [getattr(r, attribute) for r in self.rounds]
        return None if None in values else statistics.median(values)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: installing Debian's package", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk could not be installed")
    return found


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNIT[match.group(2)]


def parse_wrk(output: str) -> Round:
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    rate = re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.MULTILINE)
    requests = re.search(r"^\s*(\d+) requests in ", output, re.MULTILINE)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)$", output, re.MULTILINE)
    if rate is None or requests is None or "50" not in percentiles:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    return Round(
        requests_per_second=float(rate.group(1)),
        p50_ms=_milliseconds(percentiles["50"]),
        p99_ms=_milliseconds(percentiles["99"]),
        errors=(int(errors.group(1)) if errors else 0) + (1 if socket_errors else 0),
        requests=int(requests.group(1)),
    )


@dataclass(frozen=True)
class Wrk:
    """wrk with the run's threads and connections: the floor and the API get the same."""

    executable: str
    threads: int
    connections: int

    def run(self, base_url: str, endpoint: Endpoint, seconds: int) -> Round:
        command = [
            self.executable,
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "5s",
        ]
        for name, value in endpoint.headers.items():
            command += ["-H", f"{name}: {value}"]
        if endpoint.script:
            command += ["-s", str(endpoint.script)]
        command.append(base_url + endpoint.path)
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        return parse_wrk(output)
