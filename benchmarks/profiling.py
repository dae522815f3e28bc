"""`--profile`: where the workers' time goes while wrk runs one endpoint, by py-spy's samples."""

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.endpoints import Endpoint
from benchmarks.load import Wrk

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


def profile(
    wrk: Wrk, base_url: str, master_pid: int, endpoint: Endpoint, seconds: int, top: int = 25
) -> None:
    """py-spy's samples of every worker while wrk runs `endpoint`: for each function, the
    share of samples it is on the stack (inclusive) and on top of it (own)."""
    _print_summary(endpoint.name, _record(wrk, base_url, master_pid, endpoint, seconds), top)


def _record(
    wrk: Wrk, base_url: str, master_pid: int, endpoint: Endpoint, seconds: int
) -> list[str]:
    """py-spy's raw lines: a stack (frames separated by ';'), a space, its samples."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with tempfile.NamedTemporaryFile(suffix=".txt") as raw:
        recorder = subprocess.Popen(
            [py_spy, "record", "--pid", str(master_pid), "--subprocesses", "--format", "raw",
             "--rate", "500", "--duration", str(seconds), "--output", raw.name,
             "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(1)  # py-spy attaches
        wrk.run(base_url, endpoint, seconds)
        recorder.wait(timeout=seconds + 30)
        return Path(raw.name).read_text().splitlines()


def _print_summary(name: str, lines: list[str], top: int) -> None:
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
    print(f"\nProfile of {name} ({total} samples over the workers):")
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
