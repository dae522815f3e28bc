"""`make bench`: the API against Django's own floor, under gunicorn, PostgreSQL and Redis.

    python -m benchmarks.run                  # 100 users x 100 projects, 5 rounds of 10 s
    python -m benchmarks.run --scale large    # 1,000,000 projects + one user with 100,000
    python -m benchmarks.run --smoke          # seconds, tiny data, figures not judged

It seeds a database of its own (`apiproject_bench` by default, never a test database) with
`INSERT ... SELECT generate_series`, starts the service under gunicorn (2 sync workers,
DJANGO_DEBUG=0, the repository's gunicorn.conf.py when there is one) with the benchmark's
settings (`benchmarks.settings`: the project's, plus the floor views), and measures every
endpoint with wrk in interleaved rounds: round 1 of every endpoint, then round 2 of every
endpoint, and so on, so that drift in the machine's load hits them all alike. The floor and
the API get the same harness, connections and rounds.

Then a second server, whose settings add a counting middleware, answers a few requests of
each endpoint to report SQL queries and Redis round trips per request.

Figures are only worth comparing on an otherwise idle machine: the load average is printed
before and after.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/apiproject_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
KEY_RATE_LIMIT = "1000000/m"  # counted and given headers like any key, never refused
SERVER_START_TIMEOUT = 30.0

# wrk's Lua for POST /api/v1/projects followed by the DELETE of what it made.
CREATE_DELETE_SCRIPT = Path(__file__).with_name("create_delete.lua")


@dataclass
class Endpoint:
    name: str
    path: str
    key: str | None  # the user whose key it sends; None: no Authorization (the floor)
    floor: str | None = None  # the endpoint its ratio is taken against
    script: Path | None = None  # wrk's Lua script, for more than a GET of `path`


@dataclass
class Round:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Result:
    endpoint: Endpoint
    rounds: list[Round] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(r, attribute) for r in self.rounds)


# --- settings and data ------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=["default", "large"], default="default")
    parser.add_argument("--smoke", action="store_true", help="seconds, tiny data, no figures")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk round")
    parser.add_argument("--warmup", type=int, default=3, help="seconds per endpoint, once")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--only", help="endpoint names to measure, separated by ';'")
    parser.add_argument(
        "--profile",
        metavar="ENDPOINT",
        help="after the rounds, py-spy records the workers while wrk runs this endpoint, and "
        "the functions taking the most time are printed",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.rounds, args.duration, args.warmup = 1, 1, 1
        args.connections, args.threads = 2, 1
    return args


def scale_of(args: argparse.Namespace) -> dict[str, int]:
    if args.smoke:
        return {"users": 3, "projects": 5, "big": 0}
    if args.scale == "large":
        return {"users": 10_000, "projects": 100, "big": 100_000}
    return {"users": 100, "projects": 100, "big": 0}


def configure_environment(args: argparse.Namespace) -> dict[str, str]:
    environment = {
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "benchmark-only-not-a-secret",
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
    }
    os.environ.update(environment)
    return environment


def ensure_database(database_url: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z0-9_]+", name) or name.startswith("test_"):
        sys.exit(f"Refusing database {name!r}: the benchmark needs one of its own")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')


def seed(scale: dict[str, int]) -> None:
    """Users bench-1..N with `projects` projects each, bench-big with `big`, bench-writer
    with none (POST + DELETE), unless the database holds exactly that already."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    wanted = json.dumps(scale, sort_keys=True)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS benchmark_seed (scale text NOT NULL)")
        cursor.execute("SELECT scale FROM benchmark_seed")
        row = cursor.fetchone()
        if row is not None and row[0] == wanted:
            print(f"data: already seeded {wanted}")
            return
        started = time.monotonic()
        cursor.execute("DELETE FROM benchmark_seed")
        # Everything that hangs off the users (projects, their totals, keys, kept answers).
        cursor.execute("TRUNCATE users_user CASCADE")
        users = [(f"bench-{n}",) for n in range(1, scale["users"] + 1)]
        users += [("bench-big",), ("bench-writer",)]
        cursor.execute(
            "INSERT INTO users_user (password, is_superuser, username, first_name, last_name, "
            "email, is_staff, is_active, date_joined) "
            "SELECT '!', false, name, '', '', name || '@example.com', false, true, now() "
            "FROM unnest(%s::text[]) AS name",
            [[name for (name,) in users]],
        )
        # Newest first is created_at descending: spread the projects over distinct seconds.
        cursor.execute(
            "INSERT INTO projects_project (owner_id, name, description, created_at) "
            "SELECT u.id, 'Project ' || g, 'Seeded for the benchmark', "
            "now() - g * interval '1 second' "
            "FROM users_user u CROSS JOIN generate_series(1, %s) AS g "
            "WHERE u.username LIKE 'bench-%%' AND u.username NOT IN ('bench-big', 'bench-writer')",
            [scale["projects"]],
        )
        if scale["big"]:
            cursor.execute(
                "INSERT INTO projects_project (owner_id, name, description, created_at) "
                "SELECT u.id, 'Project ' || g, 'Seeded for the benchmark', "
                "now() - g * interval '1 second' "
                "FROM users_user u CROSS JOIN generate_series(1, %s) AS g "
                "WHERE u.username = 'bench-big'",
                [scale["big"]],
            )
        cursor.execute("INSERT INTO benchmark_seed (scale) VALUES (%s)", [wanted])
    connection.close()
    vacuum_analyze()
    print(f"data: seeded {wanted} in {time.monotonic() - started:.1f} s")


def vacuum_analyze() -> None:
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def issue_keys() -> dict[str, tuple[int, str]]:
    """A fresh key (every scope, a limit it never reaches) for each user the endpoints use."""
    from apikeys.models import APIKey
    from apikeys.services import apikey_issue
    from users.models import User

    names = ["bench-1", "bench-big", "bench-writer"]
    APIKey.objects.filter(owner__username__in=names).delete()  # the benchmark's own database
    keys = {}
    for user in User.objects.filter(username__in=names):
        issued = apikey_issue(owner=user, name="benchmark", rate_limit=KEY_RATE_LIMIT)
        keys[user.username] = (user.pk, issued.plaintext)
    return keys


def first_project_id(username: str) -> int:
    from projects.models import Project

    return Project.objects.filter(owner__username=username).order_by("-created_at", "-id")[0].pk


def endpoints(scale: dict[str, int], keys: dict[str, tuple[int, str]]) -> list[Endpoint]:
    user_id = keys["bench-1"][0]
    project = first_project_id("bench-1")
    listed = [
        Endpoint("floor projects", f"/bench/floor/projects?owner={user_id}&limit=20", None),
        Endpoint("GET /projects", "/api/v1/projects?limit=20", "bench-1", "floor projects"),
        Endpoint("GET /projects/{id}", f"/api/v1/projects/project-{project}", "bench-1",
                 "floor projects"),
        Endpoint("floor user", f"/bench/floor/users/{user_id}", None),
        Endpoint("GET /users/{own id}", f"/api/v1/users/{user_id}", "bench-1", "floor user"),
        Endpoint("GET /users/me", "/api/v1/users/me", "bench-1", "floor user"),
        Endpoint("POST+DELETE /projects", "/api/v1/projects", "bench-writer",
                 script=CREATE_DELETE_SCRIPT),
    ]  # fmt: skip
    if scale["big"]:
        for username, owned in (("bench-1", scale["projects"]), ("bench-big", scale["big"])):
            for page in (1, 500):
                listed.append(
                    Endpoint(
                        f"page {page} of {owned} projects",
                        f"/api/v1/projects?page={page}&limit=20",
                        username,
                    )
                )
    return listed


def flush_redis(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()


# --- the server -------------------------------------------------------------------------------


def gunicorn_command(port: int, workers: int) -> list[str]:
    """The repository's gunicorn.conf.py when it has one (command-line options override its
    bind and workers), else the equivalent options: sync workers, no access log."""
    command = [sys.executable, "-m", "gunicorn"]
    config = ROOT / "gunicorn.conf.py"
    if config.exists():
        command += ["--config", str(config)]
    else:
        command += ["--worker-class", "sync", "--timeout", "30"]
    return [*command, "--workers", str(workers), "--bind", f"{HOST}:{port}", "apiproject.wsgi"]


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextmanager
def server(environment: dict[str, str], workers: int, **extra: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)
    process = subprocess.Popen(
        gunicorn_command(port, workers),
        cwd=ROOT,
        env={**os.environ, **environment, **extra},
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


# --- wrk --------------------------------------------------------------------------------------


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


_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNIT[match.group(2)]


def parse_wrk(output: str) -> Round:
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    rate = re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.MULTILINE)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)$", output, re.MULTILINE)
    if rate is None or "50" not in percentiles:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    return Round(
        requests_per_second=float(rate.group(1)),
        p50_ms=_milliseconds(percentiles["50"]),
        p99_ms=_milliseconds(percentiles["99"]),
        errors=(int(errors.group(1)) if errors else 0) + (1 if socket_errors else 0),
    )


def run_wrk(
    wrk: str,
    base_url: str,
    endpoint: Endpoint,
    keys: dict[str, tuple[int, str]],
    args: argparse.Namespace,
    seconds: int,
) -> Round:
    command = [
        wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "5s",
    ]
    if endpoint.key is not None:
        command += ["-H", f"Authorization: Bearer {keys[endpoint.key][1]}"]
    if endpoint.script:
        command += ["-s", str(endpoint.script)]
    command.append(base_url + endpoint.path)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


# Where a request's time goes, by the functions on the stack (first match of each).
PROFILE_AREAS = [
    ("authentication (key lookup, record)", ["APIKeyAuthentication.authenticate"]),
    ("rate limit (the throttle's own counting)", ["APIKeyRateThrottle.allow_request"]),
    ("connection health check", ["close_if_health_check_failed"]),
    ("the page and its total", ["paginate_queryset"]),
    ("serializing", ["Serializer.data", "representation"]),
    ("rendering JSON", ["JSONRenderer.render"]),
    ("the Link header", ["_link_header"]),
    ("gunicorn: parsing, writing, closing", ["(gunicorn/http/", "(gunicorn/util.py"]),
]

# --- where the time goes ----------------------------------------------------------------------


def profile(
    wrk: str,
    base_url: str,
    master_pid: int,
    endpoint: Endpoint,
    keys: dict[str, tuple[int, str]],
    args: argparse.Namespace,
    top: int = 25,
) -> None:
    """py-spy's samples of every worker while wrk runs `endpoint`: for each function, the
    share of samples it is on the stack (inclusive) and on top of it (own)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with tempfile.NamedTemporaryFile(suffix=".txt") as raw:
        recorder = subprocess.Popen(
            [py_spy, "record", "--pid", str(master_pid), "--subprocesses", "--format", "raw",
             "--rate", "500", "--duration", str(args.duration), "--output", raw.name,
             "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(1)  # py-spy attaches
        run_wrk(wrk, base_url, endpoint, keys, args, args.duration)
        recorder.wait(timeout=args.duration + 30)
        lines = Path(raw.name).read_text().splitlines()
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    stacks: list[tuple[list[str], int]] = []
    total = 0
    for line in lines:
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        frames = [re.sub(r" \((.*?)/site-packages/", " (", f) for f in stack.split(";")]
        frames = [f for f in frames if not f.startswith("process ")]
        if not frames:
            continue
        total += samples
        stacks.append((frames, samples))
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + samples
        own[frames[-1]] = own.get(frames[-1], 0) + samples
    print(f"\nProfile of {endpoint.name} ({total} samples over the workers):")
    print("  share of samples in:")
    for label, markers in PROFILE_AREAS:
        samples = sum(
            count
            for stack, count in stacks
            if any(marker in frame for frame in stack for marker in markers)
        )
        print(f"  {samples / total:8.1%}  {label}")
    print("  inclusive   own  function (below the trunk every request shares)")
    branches = [item for item in inclusive.items() if item[1] < 0.6 * total]
    for frame, samples in sorted(branches, key=lambda item: -item[1])[:top]:
        print(f"  {samples / total:8.1%} {own.get(frame, 0) / total:6.1%}  {frame}")
    print("  top by own time:")
    for frame, samples in sorted(own.items(), key=lambda item: -item[1])[:top]:
        print(f"  {inclusive[frame] / total:8.1%} {samples / total:6.1%}  {frame}")


# --- queries and round trips per request ------------------------------------------------------


def count_per_request(
    base_url: str, endpoint: Endpoint, keys: dict[str, tuple[int, str]], times: int = 5
) -> str:
    """SQL queries and Redis round trips of the last of a few requests (the first ones may
    fill the key's cached record or refresh last_used_at)."""
    headers = {}
    if endpoint.key is not None:
        headers["Authorization"] = f"Bearer {keys[endpoint.key][1]}"
    if endpoint.script:
        return _count_create_delete(base_url, headers, times)
    counts = []
    for _ in range(times):
        request = urllib.request.Request(base_url + endpoint.path, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            counts.append((response.headers["X-Bench-Queries"], response.headers["X-Bench-Redis"]))
    queries, round_trips = counts[-1]
    return f"{queries} SQL, {round_trips} Redis"


def _count_create_delete(base_url: str, headers: dict[str, str], times: int) -> str:
    posted = deleted = ("?", "?")
    for n in range(times):
        body = json.dumps({"name": f"counted {time.time_ns()} {n}"}).encode()
        request = urllib.request.Request(
            f"{base_url}/api/v1/projects",
            data=body,
            method="POST",
            headers={**headers, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            posted = (response.headers["X-Bench-Queries"], response.headers["X-Bench-Redis"])
            location = response.headers["Location"]
        request = urllib.request.Request(base_url + location, method="DELETE", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            deleted = (response.headers["X-Bench-Queries"], response.headers["X-Bench-Redis"])
    return f"POST {posted[0]} SQL, {posted[1]} Redis; DELETE {deleted[0]} SQL, {deleted[1]} Redis"


# --- the report -------------------------------------------------------------------------------


def git_commit() -> str:
    result = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def report(results: dict[str, Result], counts: dict[str, str], memory: list[float]) -> None:
    print()
    print("Per round (requests/s, p50 ms, p99 ms; ratio of requests/s to the floor's round):")
    for result in results.values():
        print(f"  {result.endpoint.name}")
        floor = results.get(result.endpoint.floor or "")
        for index, r in enumerate(result.rounds):
            ratio = ""
            if floor is not None:
                ratio = f"  {r.requests_per_second / floor.rounds[index].requests_per_second:.2f}x"
            errors = f"  NON-2XX OR SOCKET ERRORS: {r.errors}" if r.errors else ""
            print(
                f"    round {index + 1}: {r.requests_per_second:9.1f} req/s"
                f"  p50 {r.p50_ms:7.2f}  p99 {r.p99_ms:7.2f}{ratio}{errors}"
            )
    print()
    header = (
        f"{'endpoint':<28}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'x floor':>9}{'p99 x':>8}"
        "  per request"
    )
    print(
        "Medians of the rounds (x floor: median requests/s over the floor's median; p99 x: "
        "median p99 over the floor's median p99):"
    )
    print(header)
    for name, result in results.items():
        floor = results.get(result.endpoint.floor or "")
        ratio = p99_ratio = ""
        if floor is not None:
            rate = result.median("requests_per_second") / floor.median("requests_per_second")
            ratio = f"{rate:.2f}"
            p99_ratio = f"{result.median('p99_ms') / floor.median('p99_ms'):.2f}"
        print(
            f"{name:<28}{result.median('requests_per_second'):9.1f}"
            f"{result.median('p50_ms'):9.2f}{result.median('p99_ms'):9.2f}"
            f"{ratio:>9}{p99_ratio:>8}  {counts.get(name, '')}"
        )
    if memory:
        print(f"\nworker peak memory (VmHWM): {', '.join(f'{m:.1f} MiB' for m in memory)}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    wrk = ensure_wrk()
    environment = configure_environment(args)
    ensure_database(args.database_url)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    scale = scale_of(args)
    seed(scale)
    flush_redis(args.redis_url)
    keys = issue_keys()
    listed = endpoints(scale, keys)
    if args.only:
        wanted = {name.strip() for name in args.only.split(";")}
        floors = {e.floor for e in listed if e.name in wanted}
        listed = [e for e in listed if e.name in wanted or e.name in floors]
    from django.db import connection

    connection.close()  # the servers have the database to themselves

    print(f"commit {git_commit()}, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(
        f"wrk -t{args.threads} -c{args.connections}, {args.rounds} rounds of {args.duration} s, "
        f"gunicorn {args.workers} sync workers, "
        f"{'gunicorn.conf.py' if (ROOT / 'gunicorn.conf.py').exists() else 'no gunicorn.conf.py'}"
        f", DJANGO_DEBUG=0, {os.cpu_count()} CPUs"
    )
    print(f"load average before: {load()}", flush=True)
    results = {endpoint.name: Result(endpoint) for endpoint in listed}
    with server(environment, args.workers) as (base_url, master_pid):
        for endpoint in listed:
            run_wrk(wrk, base_url, endpoint, keys, args, args.warmup)
        for index in range(args.rounds):
            for endpoint in listed:
                results[endpoint.name].rounds.append(
                    run_wrk(wrk, base_url, endpoint, keys, args, args.duration)
                )
            print(f"round {index + 1} of {args.rounds} done, load {load()}", flush=True)
        memory = worker_peak_memory_mib(master_pid)
        if args.profile:
            profile(wrk, base_url, master_pid, results[args.profile].endpoint, keys, args)
    print(f"load average after: {load()}")
    counts = {}
    with server(environment, 1, BENCH_COUNT="1") as (base_url, _pid):
        for endpoint in listed:
            counts[endpoint.name] = count_per_request(base_url, endpoint, keys)
    report(results, counts, memory)
    failed = [name for name, result in results.items() if any(r.errors for r in result.rounds)]
    if failed:
        sys.exit(f"answers other than 2xx (or socket errors) from: {', '.join(failed)}")


if __name__ == "__main__":
    main()
