#!/usr/bin/env bash
# `make serve`: the production stack in the foreground. nginx on 127.0.0.1:$PORT (default
# 8080) in front of gunicorn (gunicorn.conf.py) on a Unix socket, against DATABASE_URL and
# REDIS_URL. Migrates and collects static files first; Ctrl-C or SIGTERM stops everything it
# started. pid, temp, log and metrics files live in a private runtime directory, removed on
# exit, so several stacks can run at once (the tests start their own).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-8080}"
PYTHON="${PYTHON:-.venv/bin/python}"
NGINX="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"
if [ -z "${DATABASE_URL:-}" ] || [ -z "${REDIS_URL:-}" ]; then
  echo "serve: DATABASE_URL and REDIS_URL should name PostgreSQL and Redis;" \
    "falling back to the development defaults for what is unset" >&2
fi

RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/apiproject-serve.XXXXXX")"
# nginx's workers run as nobody when started by root: they must reach the socket.
chmod 755 "$RUN_DIR"
SOCKET="$RUN_DIR/gunicorn.sock"

# Behind this nginx, exactly one proxy appends to X-Forwarded-For and sets X-Forwarded-Proto.
export API_TRUSTED_PROXY_COUNT="${API_TRUSTED_PROXY_COUNT:-1}"
export DJANGO_TRUST_X_FORWARDED_PROTO="${DJANGO_TRUST_X_FORWARDED_PROTO:-1}"
# gunicorn's workers keep their metrics here, summed when scraped (gunicorn.conf.py empties it).
METRICS_DIR="$RUN_DIR/metrics"

gunicorn_pid=""
nginx_pid=""
stop() {
  trap - INT TERM EXIT
  [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null || true
  [ -n "$gunicorn_pid" ] && kill -TERM "$gunicorn_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$RUN_DIR"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

"$PYTHON" manage.py migrate --noinput >&2
"$PYTHON" manage.py collectstatic --noinput >&2

sed -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@PORT@|$PORT|g" -e "s|@UPSTREAM@|unix:$SOCKET|g" \
  deploy/nginx.conf.template >"$RUN_DIR/nginx.conf"
cp deploy/error_headers.conf "$RUN_DIR/error_headers.conf"

PROMETHEUS_MULTIPROC_DIR="$METRICS_DIR" "$PYTHON" -m gunicorn apiproject.wsgi --config gunicorn.conf.py --bind "unix:$SOCKET" &
gunicorn_pid=$!
for _ in $(seq 1 100); do [ -S "$SOCKET" ] && break; sleep 0.1; done
if [ ! -S "$SOCKET" ]; then
  echo "serve: gunicorn did not start" >&2
  exit 1
fi

"$NGINX" -p "$RUN_DIR" -e stderr -c "$RUN_DIR/nginx.conf" -g "daemon off;" &
nginx_pid=$!
echo "serve: http://127.0.0.1:$PORT (nginx) -> gunicorn on $SOCKET" >&2

# Either one ending ends the stack.
wait -n "$gunicorn_pid" "$nginx_pid" || true
exit 1
