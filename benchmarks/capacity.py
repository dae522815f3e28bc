"""`make capacity`: what 1,000, 10,000 and 100,000 requests per second need, derived from what
one request costs as the last `make bench` measured it (benchmarks/last-run.json).

    python -m benchmarks.capacity
    python -m benchmarks.capacity --mix "GET /projects=50,POST+DELETE /projects=50"
    python -m benchmarks.capacity --utilisation 0.5 --rates 2000,20000 --measurements run.json

The model (docs/performance.md, "Capacity"): a request of the mix costs the mean of its
endpoints' costs, weighted by the mix; then, for a rate of R requests/s and a utilisation
target u (the share of its time each resource may be busy):

    service cores          = R x service CPU seconds per request / u
    Redis shards           = R x Redis main-thread CPU seconds per request / u
                             (a shard runs its commands on one core)
    PostgreSQL connections = R x seconds a request holds a connection / u
                             (Little's law: connections busy = arrival rate x hold time;
                             PgBouncer in transaction mode lends one per transaction)
    PostgreSQL cores       = R x PostgreSQL CPU seconds per request / u

each rounded up, at least 1. It prints both tables in markdown, then the assumptions.
"""

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from benchmarks.measurements import LAST_RUN, SINGLE_NODE, EndpointCosts, Measurements

DEFAULT_MIX = "GET /projects=70,GET /projects/{id}=20,POST+DELETE /projects=10"
DEFAULT_RATES = "1000,10000,100000"
DEFAULT_UTILISATION = 0.6

Mix = dict[str, float]  # endpoint name -> share of the requests, summing to 1


@dataclass(frozen=True)
class RequestCost:
    """One request: CPU ms (None: not measured), SQL statements, Redis round trips, and the
    ms it holds a database connection."""

    service_cpu_ms: float | None
    redis_cpu_ms: float | None
    postgres_cpu_ms: float | None
    sql_statements: float
    redis_round_trips: float
    db_held_ms: float


@dataclass(frozen=True)
class Need:
    """What a rate needs; None: the cost it derives from was not measured."""

    rate: int
    service_cores: int | None
    redis_shards: int | None
    postgres_connections: int
    postgres_cores: int | None


def parse_mix(text: str) -> Mix:
    """ "name=share,name=share...": shares in any unit (percentages, fractions), normalised."""
    shares: Mix = {}
    for part in text.split(","):
        name, separator, share = part.rpartition("=")
        if not separator or not name.strip() or float(share) <= 0:
            raise ValueError(f"not name=share with a positive share: {part!r}")
        shares[name.strip()] = float(share)
    total = sum(shares.values())
    return {name: share / total for name, share in shares.items()}


def mix_cost(endpoints: dict[str, EndpointCosts], mix: Mix) -> RequestCost:
    missing = [name for name in mix if name not in endpoints]
    if missing:
        raise ValueError(f"not in the measurements: {', '.join(missing)}")

    def mean(field: str) -> float | None:
        values = [getattr(endpoints[name], field) for name in mix]
        if None in values:
            return None
        return sum(share * value for share, value in zip(mix.values(), values, strict=True))

    def counted(field: str) -> float:
        return sum(share * getattr(endpoints[name], field) for name, share in mix.items())

    return RequestCost(
        service_cpu_ms=mean("service_cpu_ms"),
        redis_cpu_ms=mean("redis_cpu_ms"),
        postgres_cpu_ms=mean("postgres_cpu_ms"),
        sql_statements=counted("sql_statements"),
        redis_round_trips=counted("redis_round_trips"),
        db_held_ms=counted("db_held_ms"),
    )


def _units(rate: int, ms_per_request: float, utilisation: float) -> int:
    # Rounded to a millionth first, so that 4.0000000001 of float arithmetic is 4.
    return max(1, math.ceil(round(rate * ms_per_request / 1000 / utilisation, 6)))


def need(rate: int, cost: RequestCost, utilisation: float) -> Need:
    def units(ms_per_request: float | None) -> int | None:
        return None if ms_per_request is None else _units(rate, ms_per_request, utilisation)

    return Need(
        rate=rate,
        service_cores=units(cost.service_cpu_ms),
        redis_shards=units(cost.redis_cpu_ms),
        postgres_connections=_units(rate, cost.db_held_ms, utilisation),
        postgres_cores=units(cost.postgres_cpu_ms),
    )


def _figure(value: float | None, digits: int = 3) -> str:
    return "not measured" if value is None else f"{value:,.{digits}f}"


def cost_table(endpoints: dict[str, EndpointCosts], mix: Mix) -> list[str]:
    lines = [
        "| endpoint | share | service CPU ms | Redis CPU ms | PostgreSQL CPU ms | SQL statements "
        "| Redis round trips | DB connection held ms | p99 ms (measured) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, share in mix.items():
        e = endpoints[name]
        lines.append(
            f"| `{name}` | {share:.0%} | {_figure(e.service_cpu_ms)} | {_figure(e.redis_cpu_ms)} "
            f"| {_figure(e.postgres_cpu_ms)} | {e.sql_statements:g} | {e.redis_round_trips:g} "
            f"| {e.db_held_ms:.3f} | {e.p99_ms:.2f} |"
        )
    c = mix_cost(endpoints, mix)
    lines.append(
        f"| **the mix** | 100% | {_figure(c.service_cpu_ms)} | {_figure(c.redis_cpu_ms)} "
        f"| {_figure(c.postgres_cpu_ms)} | {c.sql_statements:.2f} | {c.redis_round_trips:.2f} "
        f"| {c.db_held_ms:.3f} | |"
    )
    return lines


def capacity_table(needs: list[Need]) -> list[str]:
    def count(value: int | None) -> str:
        return "not measured" if value is None else f"{value:,}"

    lines = [
        "| requests/s | service cores | Redis shards | PostgreSQL connections (PgBouncer pool) "
        "| PostgreSQL cores |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for n in needs:
        lines.append(
            f"| {n.rate:,} | {count(n.service_cores)} | {count(n.redis_shards)} "
            f"| {n.postgres_connections:,} | {count(n.postgres_cores)} |"
        )
    return lines


def assumptions(measured: Measurements, mix: Mix, utilisation: float, source: Path) -> list[str]:
    run = measured.conditions
    cost = mix_cost(measured.endpoints, mix)
    shares = ", ".join(f"{share:.0%} `{name}`" for name, share in mix.items())
    one_key = (
        "not measured"
        if not cost.redis_cpu_ms
        else f"{utilisation * 1000 / cost.redis_cpu_ms:,.0f} requests/s"
    )
    headroom = (
        f"- Every resource is sized to be at most {utilisation:.0%} busy on average. The "
        "latencies measured come from wrk's closed loop, which keeps the machine saturated; "
        "below that, requests queue less, so the p99 stays at or under the measured one (the "
        "latency target). A one-core queue (a Redis shard) waits on average u/(1-u) times its "
        "service time (Redis's CPU per request): "
        f"{utilisation / (1 - utilisation):.1f} times at {utilisation:.0%}, 9 times at 90%."
        if utilisation < 1
        else "- Every resource is sized to be fully busy: no headroom for queueing."
    )
    # A scale-out run (`make bench --scale-out`) timed the hold through PgBouncer already.
    hold_path, through = (
        ("through PgBouncer", ",")
        if run.get("scale_out")
        else ("straight to PostgreSQL", ", and through PgBouncer,")
    )
    lines = [
        f"- Measured by `make bench` ({source.name}), {run.get('setup', SINGLE_NODE)}: "
        f"commit {run['commit']}, {run['date']}; "
        f"{run['cpus']} CPUs ({run['cpu_model']}); {run['server']}; PostgreSQL "
        f"{run['postgresql']}, Redis {run['redis']}; data: {run['data']}; "
        f"wrk {run['wrk']}, {run['rounds']} rounds of {run['round_seconds']} s; load average "
        f"{run['load_before']} before, {run['load_after']} after.",
        f"- The mix, by requests: {shares}. A POST+DELETE is a POST and the DELETE of what it "
        "made, each a request: its costs are the mean of the two.",
        "- CPU per request: each process's CPU over a round over the requests wrk completed, "
        "median of the rounds; service: gunicorn's master and workers; Redis: its main thread "
        "(a cluster's: summed over its primaries); "
        "PostgreSQL: every process of the cluster. Cores are the measured machine's; another "
        "CPU scales them. The benchmark shared its cores with PostgreSQL, Redis and wrk, so "
        "the figures include that contention.",
        headroom,
        "- Service cores: one gunicorn worker process per core (gunicorn.conf.py's default), "
        "its threads covering the waits on PostgreSQL and Redis. Each thread keeps a client "
        "connection to PgBouncer: cores x threads client connections, not server ones.",
        "- Redis shards: a shard runs its commands on one core. The count assumes the "
        "requests spread evenly over the shards, as many API keys' do: one script reads a "
        "key's record and counts the request, so a key's Redis keys live on one shard, and one "
        f"key alone can drive at most {one_key} (of the mix) before its shard is "
        f"{utilisation:.0%} busy. Memory is not measured and not counted.",
        "- PostgreSQL connections: PgBouncer in transaction mode lends a server connection "
        "for one statement outside a transaction, or for a transaction from its first "
        "statement to its COMMIT; the hold is timed by the counting server, one request at a "
        f"time, {hold_path} (on loopback in `make bench`). Over a network"
        f"{through} each statement, BEGIN and COMMIT holds it one round trip longer: there the "
        "figures are a floor. PgBouncer's own CPU is not measured.",
        "- PostgreSQL cores: the benchmark's data (above) fits in memory; disk reads are not "
        "measured, nor the commits' fsync beyond the time it holds a connection.",
        "- Not counted: nginx, TLS, the network, memory, replicas and failover headroom.",
    ]
    if run.get("smoke"):
        lines.insert(0, "- **A smoke run's figures (seconds, tiny data): not measurements.**")
    return lines


def report(
    measured: Measurements, mix: Mix, rates: list[int], utilisation: float, source: Path
) -> str:
    cost = mix_cost(measured.endpoints, mix)
    needs = [need(rate, cost, utilisation) for rate in rates]
    return "\n".join(
        [
            "What one request costs:",
            "",
            *cost_table(measured.endpoints, mix),
            "",
            f"What a rate needs, every resource at most {utilisation:.0%} busy:",
            "",
            *capacity_table(needs),
            "",
            "Assumptions:",
            "",
            *assumptions(measured, mix, utilisation, source),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="What 1,000, 10,000 and 100,000 requests/s need, from `make bench`'s costs."
    )
    parser.add_argument("--measurements", type=Path, default=LAST_RUN)
    parser.add_argument("--mix", default=DEFAULT_MIX, help="name=share,... (%(default)s)")
    parser.add_argument("--rates", default=DEFAULT_RATES, help="requests/s (%(default)s)")
    parser.add_argument(
        "--utilisation",
        type=float,
        default=DEFAULT_UTILISATION,
        help="the share of its time each resource may be busy (%(default)s)",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not 0 < args.utilisation <= 1:
        parser.error("--utilisation must be above 0 and at most 1")
    if not args.measurements.exists():
        parser.error(f"{args.measurements} is missing: run `make bench` first")
    try:
        mix = parse_mix(args.mix)
        rates = [int(rate) for rate in args.rates.split(",")]
        if min(rates) <= 0:
            raise ValueError("--rates must be positive")
        measured = Measurements.read(args.measurements)
        print(report(measured, mix, rates, args.utilisation, args.measurements))
    except ValueError as error:
        parser.error(str(error))


if __name__ == "__main__":
    main()
