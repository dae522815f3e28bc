"""gunicorn's configuration: read by `gunicorn apiproject.wsgi` from this directory, and by
`make serve` (deploy/serve.sh), which puts it behind nginx on a Unix socket.

The timeouts are ordered so that a hung database is answered, not dropped:
    database connect (3 s) and health check (3 s), statement (5 s, client deadline 5.25 s)
    < nginx proxy_read_timeout (25 s) < gunicorn `timeout` (30 s).
nginx is the outer limit for request lines and headers (it answers those faults in JSON):
gunicorn's own limits are lifted; what gunicorn still refuses, its worker answers in JSON too
(apiproject/gunicorn_worker.py).
"""

import os
import shutil
from pathlib import Path
from typing import Any

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# gthread, one process per core, 8 threads each: nginx buffers slow clients, so a thread is
# held only while the application works, and threads go on answering while others wait on a
# hung database (up to 3 to 5.25 s each). Measured on 2 cores
# (docs/operations.md, "gunicorn"): gthread 2x8 served 250-290 req/s against 110-160 for 4 sync
# workers. Each thread keeps one database connection: workers x threads per host.
# Our subclass answers what gunicorn's parser refuses (a control byte in a header value, a
# raw non-ASCII byte in the request line) with the JSON error body instead of an HTML page.
worker_class = "apiproject.gunicorn_worker.JSONErrorThreadWorker"
workers = int(os.environ.get("GUNICORN_WORKERS") or max(2, os.cpu_count() or 1))
threads = int(os.environ.get("GUNICORN_THREADS") or 8)

# After every database limit (apiproject/settings.py): a worker is killed only when its main
# loop is stuck, never for a database that hangs.
timeout = 30
graceful_timeout = 20
keepalive = 5

# nginx refuses what is too long first (large_client_header_buffers), in JSON.
limit_request_line = 0  # unlimited
limit_request_fields = 32768  # gunicorn's maximum
limit_request_field_size = 0  # unlimited

# The application logs one access line per request (apiproject.api.access_log).
accesslog = None
errorlog = "-"
# Several stacks run at once (tests): no control socket shared in $HOME.
control_socket_disable = True


def on_starting(server: Any) -> None:
    """Metrics of a previous run would be summed with this one's: start from an empty dir."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        Path(directory).mkdir(parents=True)


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
