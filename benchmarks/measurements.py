"""The measurements file: what one `make bench` run measured, per endpoint, written at its end
(benchmarks/last-run.json unless `--output` says otherwise; with `--scale-out`,
benchmarks/last-run-scale-out.json; git ignores both) and read by `make capacity`
(benchmarks/capacity.py; the scale-out file with `--measurements`)."""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

LAST_RUN = Path(__file__).with_name("last-run.json")
# Its own file, so that a scale-out run leaves the single-node figures `make capacity` reads.
LAST_SCALE_OUT_RUN = Path(__file__).with_name("last-run-scale-out.json")
# The conditions' `setup` (benchmarks/setups.py) of a run without `--scale-out`, and of the
# files written before there was a setup to state.
SINGLE_NODE = "single node: PostgreSQL directly, one Redis"


@dataclass(frozen=True)
class EndpointCosts:
    """One endpoint. From wrk's rounds, medians: requests/s, latency, and the CPU ms per
    request of the service, Redis's main thread and PostgreSQL (benchmarks/cpu.py; None: not
    measurable here). From the counting server, per request: SQL statements, Redis round trips
    and the ms it holds a database connection, unloaded (benchmarks/per_request.py)."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    service_cpu_ms: float | None
    redis_cpu_ms: float | None
    postgres_cpu_ms: float | None
    sql_statements: float
    redis_round_trips: float
    db_held_ms: float


@dataclass(frozen=True)
class Measurements:
    conditions: dict[str, str | int | float | bool]  # the code, the machine, the harness
    endpoints: dict[str, EndpointCosts]

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> "Measurements":
        data = json.loads(path.read_text())
        return cls(
            conditions=data["conditions"],
            endpoints={name: EndpointCosts(**costs) for name, costs in data["endpoints"].items()},
        )
