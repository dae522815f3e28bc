"""SQL queries and Redis round trips per request, as the counting server (BENCH_COUNT=1,
benchmarks/counting.py) reports them in response headers."""

import json
import time
import urllib.request
from email.message import Message

from benchmarks.endpoints import Endpoint


def count_per_request(base_url: str, endpoint: Endpoint, times: int = 5) -> str:
    """SQL queries and Redis round trips of the last of a few requests (the first ones may
    fill the key's cached record or refresh last_used_at)."""
    if endpoint.script:
        return _count_create_delete(base_url, endpoint, times)
    for _ in range(times):
        answered = _send(urllib.request.Request(base_url + endpoint.path, headers=endpoint.headers))
    return _counts(answered)


def _count_create_delete(base_url: str, endpoint: Endpoint, times: int) -> str:
    # What the Lua script does under wrk: a POST, then the DELETE of the project it made.
    for n in range(times):
        body = json.dumps({"name": f"counted {time.time_ns()} {n}"}).encode()
        posted = _send(
            urllib.request.Request(
                base_url + endpoint.path,
                data=body,
                method="POST",
                headers={**endpoint.headers, "Content-Type": "application/json"},
            )
        )
        deleted = _send(
            urllib.request.Request(
                base_url + posted["Location"], method="DELETE", headers=endpoint.headers
            )
        )
    return f"POST {_counts(posted)}; DELETE {_counts(deleted)}"


def _send(request: urllib.request.Request) -> Message:
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers


def _counts(headers: Message) -> str:
    return f"{headers['X-Bench-Queries']} SQL, {headers['X-Bench-Redis']} Redis"
