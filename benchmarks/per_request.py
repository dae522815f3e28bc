"""SQL statements, Redis round trips and the time a request holds a database connection, as the
counting server (BENCH_COUNT=1, benchmarks/counting.py) reports them in response headers: the
medians of some requests sent one at a time, after a few that may fill the key's cached record
or refresh its last_used_at."""

import json
import statistics
import time
import urllib.request
from dataclasses import dataclass
from email.message import Message

from benchmarks.endpoints import Endpoint

WARM_UP = 3
COUNTED = 21


@dataclass(frozen=True)
class Counts:
    """Per request: medians (for POST+DELETE, the mean of the POST's and the DELETE's)."""

    sql_statements: float
    redis_round_trips: float
    db_held_ms: float  # unloaded: one request at a time
    label: str  # as the report prints it

    @classmethod
    def of(cls, answers: list[Message]) -> "Counts":
        sql = statistics.median(int(a["X-Bench-Queries"]) for a in answers)
        round_trips = statistics.median(int(a["X-Bench-Redis"]) for a in answers)
        return cls(
            sql_statements=sql,
            redis_round_trips=round_trips,
            db_held_ms=statistics.median(float(a["X-Bench-Db-Held-Ms"]) for a in answers),
            label=f"{sql:g} SQL, {round_trips:g} Redis",
        )


def count_per_request(base_url: str, endpoint: Endpoint) -> Counts:
    if endpoint.script:
        return _count_create_delete(base_url, endpoint)
    answers = [
        _send(urllib.request.Request(base_url + endpoint.path, headers=endpoint.headers))
        for _ in range(WARM_UP + COUNTED)
    ]
    return Counts.of(answers[WARM_UP:])


def _count_create_delete(base_url: str, endpoint: Endpoint) -> Counts:
    # What the Lua script does under wrk: a POST, then the DELETE of the project it made;
    # wrk counts each of them as a request.
    posts, deletes = [], []
    for n in range(WARM_UP + COUNTED):
        body = json.dumps({"name": f"counted {time.time_ns()} {n}"}).encode()
        posts.append(
            _send(
                urllib.request.Request(
                    base_url + endpoint.path,
                    data=body,
                    method="POST",
                    headers={**endpoint.headers, "Content-Type": "application/json"},
                )
            )
        )
        deletes.append(
            _send(
                urllib.request.Request(
                    base_url + posts[-1]["Location"], method="DELETE", headers=endpoint.headers
                )
            )
        )
    post, delete = Counts.of(posts[WARM_UP:]), Counts.of(deletes[WARM_UP:])
    return Counts(
        sql_statements=(post.sql_statements + delete.sql_statements) / 2,
        redis_round_trips=(post.redis_round_trips + delete.redis_round_trips) / 2,
        db_held_ms=(post.db_held_ms + delete.db_held_ms) / 2,
        label=f"POST {post.label}; DELETE {delete.label}",
    )


def _send(request: urllib.request.Request) -> Message:
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers
