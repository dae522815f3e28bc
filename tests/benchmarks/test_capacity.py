"""`make capacity`'s arithmetic (benchmarks/capacity.py) on costs small enough to work out by
hand; docs/performance.md, "Capacity", states the model."""

from pathlib import Path

import pytest

from benchmarks.capacity import Need, RequestCost, main, mix_cost, need, parse_mix
from benchmarks.measurements import EndpointCosts, Measurements


def costs(**fields: float | None) -> EndpointCosts:
    defaults: dict[str, float | None] = {
        "requests_per_second": 100.0,
        "p50_ms": 5.0,
        "p99_ms": 10.0,
        "service_cpu_ms": 1.0,
        "redis_cpu_ms": 0.1,
        "postgres_cpu_ms": 1.0,
        "sql_statements": 1,
        "redis_round_trips": 1,
        "db_held_ms": 1.0,
    }
    return EndpointCosts(**{**defaults, **fields})  # type: ignore[arg-type]


ENDPOINTS = {
    "read": costs(
        service_cpu_ms=2.0, redis_cpu_ms=0.1, postgres_cpu_ms=1.0, sql_statements=2,
        db_held_ms=0.5,
    ),
    "write": costs(
        service_cpu_ms=4.0, redis_cpu_ms=0.2, postgres_cpu_ms=2.0, sql_statements=4,
        db_held_ms=3.0,
    ),
}  # fmt: skip
# 75% reads, 25% writes: service 0.75 x 2 + 0.25 x 4 = 2.5 ms; Redis 0.125 ms; PostgreSQL
# 1.25 ms; 2.5 statements; 1 round trip; a connection held 0.375 + 0.75 = 1.125 ms.
MIX = {"read": 0.75, "write": 0.25}


def test_mix_shares_are_normalised_whatever_their_unit():
    assert parse_mix("read=75,write=25") == MIX
    assert parse_mix("read=3, write=1") == MIX


@pytest.mark.parametrize("text", ["read", "read=0", "=5", "read=-1,write=2"])
def test_mix_without_a_positive_share_for_a_name_is_refused(text):
    with pytest.raises(ValueError):
        parse_mix(text)


def test_a_request_of_the_mix_costs_the_weighted_mean_of_its_endpoints():
    assert mix_cost(ENDPOINTS, MIX) == RequestCost(
        service_cpu_ms=2.5,
        redis_cpu_ms=pytest.approx(0.125),
        postgres_cpu_ms=1.25,
        sql_statements=2.5,
        redis_round_trips=1,
        db_held_ms=1.125,
    )


def test_a_mix_naming_an_endpoint_not_measured_is_refused():
    with pytest.raises(ValueError, match="not in the measurements: other"):
        mix_cost(ENDPOINTS, {"read": 0.5, "other": 0.5})


def test_needs_are_rate_times_cost_over_utilisation_rounded_up():
    cost = mix_cost(ENDPOINTS, MIX)

    # 1,000/s x 2.5 ms = 2.5 cores busy, / 0.5 = 5; Redis 0.125 / 0.5 = 0.25 -> 1 shard;
    # Little's law: 1,000/s x 1.125 ms = 1.125 connections busy, / 0.5 = 2.25 -> 3;
    # PostgreSQL 1.25 / 0.5 = 2.5 -> 3 cores.
    assert need(1_000, cost, 0.5) == Need(
        rate=1_000, service_cores=5, redis_shards=1, postgres_connections=3, postgres_cores=3
    )
    assert need(10_000, cost, 0.5) == Need(
        rate=10_000, service_cores=50, redis_shards=3, postgres_connections=23, postgres_cores=25
    )


def test_an_exact_need_is_not_rounded_up_by_float_arithmetic():
    # 1,000/s x 2.1 ms / 0.7 is 3.0000000000000004 in floats: 3 cores, not 4.
    cost = RequestCost(2.1, 0.07, 0.7, 1, 1, 0.35)

    assert need(1_000, cost, 0.7) == Need(
        rate=1_000, service_cores=3, redis_shards=1, postgres_connections=1, postgres_cores=1
    )


def test_a_cost_not_measured_gives_no_figure_rather_than_zero():
    endpoints = {"read": costs(postgres_cpu_ms=None)}

    assert need(1_000, mix_cost(endpoints, {"read": 1.0}), 0.5).postgres_cores is None


def test_make_capacity_prints_the_tables_from_the_measurements_file(tmp_path: Path, capsys):
    measurements = tmp_path / "run.json"
    Measurements(
        conditions={
            "smoke": False, "commit": "abc1234", "date": "2026-12-07", "cpus": 2,
            "cpu_model": "a CPU", "wrk": "-t2 -c8", "rounds": 5, "round_seconds": 10,
            "server": "gunicorn", "postgresql": "15", "redis": "7", "data": "100 x 100",
            "load_before": "0.1", "load_after": "0.2",
        },
        endpoints=ENDPOINTS,
    ).write(measurements)  # fmt: skip

    main(
        [
            "--measurements", str(measurements), "--mix", "read=75,write=25",
            "--rates", "1000,10000", "--utilisation", "0.5",
        ]
    )  # fmt: skip

    printed = capsys.readouterr().out
    assert "| **the mix** | 100% | 2.500 | 0.125 | 1.250 | 2.50 | 1.00 | 1.125 | |" in printed
    assert "| 1,000 | 5 | 1 | 3 | 3 |" in printed
    assert "| 10,000 | 50 | 3 | 23 | 25 |" in printed
    assert "at most 50% busy" in printed
    assert "75% `read`, 25% `write`" in printed
