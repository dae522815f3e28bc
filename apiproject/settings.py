"""Settings, read from the environment in this one place (12-factor).

Environment variables (docs/operations.md, "Configuration", has the full list):
    DJANGO_DEBUG            "1" for development; off by default.
    DJANGO_SECRET_KEY       required unless DJANGO_DEBUG=1.
    DJANGO_ALLOWED_HOSTS    comma-separated host names.
    DATABASE_URL            default: the embedded SQLite file db.sqlite3 beside manage.py.
    DATABASE_CONNECT_TIMEOUT, DATABASE_STATEMENT_TIMEOUT  seconds, default 3 and 5.
    DATABASE_CONN_HEALTH_CHECKS  "1": check a reused connection before each request.
    DATABASE_TRANSACTION_POOLING  "1": through PgBouncer in transaction pooling mode.
    API_KEY_CACHE_SECONDS   how long Redis keeps a verified key's record, default 60.
    DJANGO_MAX_BODY_BYTES   the largest request body accepted (413 past it).
    REDIS_URL               the shared cache for rate limits; unset: process memory.
    REDIS_CLUSTER           "1": REDIS_URL names seed nodes of a Redis Cluster, comma-separated.
    API_RATE_LIMIT          requests per API key, default 100/m.
    API_FAILED_AUTH_RATE_LIMIT  failed authentications per client IP, default 60/m.
    API_TRUSTED_PROXY_COUNT how many X-Forwarded-For hops to trust, default 0.
    API_PROJECTS_PER_USER   the most projects one user may own, default 10000.
    API_KEYS_PER_USER       the most working keys one user may hold, default 100.
    API_LEAK_REPORT_KEYS_FILE  GitHub's public keys for leak reports; unset: no such endpoint.
    DJANGO_HSTS_SECONDS, DJANGO_SSL_REDIRECT  HSTS and the HTTPS redirect, off by default.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from pythonjsonlogger.core import RESERVED_ATTRS

from apiproject.api.rates import requests_per_minute

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be 1 or 0, not {value!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def env_rate(name: str, default: str) -> str:
    value = os.environ.get(name) or default
    try:
        requests_per_minute(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None
    return value


def cluster_seeds(name: str, value: str) -> str:
    """The seed nodes of a Redis Cluster, `redis://[:password@]host:port[/0]` (`rediss://` for
    TLS), comma-separated: all of one scheme, credentials and options (one cluster), database 0
    (a cluster has no other)."""
    seeds = [seed.strip() for seed in value.split(",") if seed.strip()]
    if not seeds:
        raise ImproperlyConfigured(f"{name} must name one or more Redis Cluster seed nodes")
    shared = set()
    for seed in seeds:
        parts = urlsplit(seed)
        try:
            parts.port  # noqa: B018 (a port that is no number raises)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {seed!r} has a bad port") from None
        if parts.scheme not in {"redis", "rediss"} or not parts.hostname:
            raise ImproperlyConfigured(f"{name}: {seed!r} is no redis:// or rediss:// URL")
        if parts.path not in {"", "/", "/0"}:
            raise ImproperlyConfigured(f"{name}: {seed!r}: a Redis Cluster has database 0 only")
        shared.add((parts.scheme, parts.username, parts.password, parts.query))
    if len(shared) > 1:
        raise ImproperlyConfigured(
            f"{name}: the seeds of one cluster share their scheme, credentials and options"
        )
    return ",".join(seeds)


# --- Core ---------------------------------------------------------------------------------------

DEBUG = env_flag("DJANGO_DEBUG")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is required (or set DJANGO_DEBUG=1 for development)."
        )
    SECRET_KEY = "django-insecure-development-only-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)

INSTALLED_APPS = [
    "apiproject.admin_config.APIAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_ratelimit",
    "apiproject",
    "apiproject.api",
    "users",
    "projects",
    "apikeys",
]

MIDDLEWARE = [
    # Outermost: every response, errors, probes and metrics included, carries X-Request-ID
    # and nosniff.
    "apiproject.api.middleware.RequestIDMiddleware",
    # Inside the request id, outside everything else: one line for every answer.
    "apiproject.api.access_log.AccessLogMiddleware",
    # Before the HTTPS redirect: a scraper with the token is answered over plain HTTP too.
    "apiproject.api.metrics.MetricsMiddleware",
    "apiproject.api.middleware.APIErrorMiddleware",
    # Around the probes too, so they carry HSTS; it reads the Host header only to redirect
    # to HTTPS, and the probes are exempt from that (SECURE_REDIRECT_EXEMPT).
    "django.middleware.security.SecurityMiddleware",
    # Before anything validates the Host header: load balancers probe by IP.
    "apiproject.api.middleware.HealthCheckMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "apiproject.urls"
WSGI_APPLICATION = "apiproject.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        # Off by default: a health check is a `SELECT 1` round trip before every request that
        # reuses a connection. Without it, a connection the database dropped fails one request
        # (503, the error body) and is then closed (Django closes a connection that errored
        # at the end of the request), and CONN_MAX_AGE bounds how long any connection lives.
        conn_health_checks=env_flag("DATABASE_CONN_HEALTH_CHECKS"),
    )
}
# Time limits (docs/operations.md, "Time limits"), all shorter than gunicorn's worker timeout
# (gunicorn.conf.py), so a hung database is answered with 503 rather than a killed worker.
DATABASE_CONNECT_TIMEOUT = env_int("DATABASE_CONNECT_TIMEOUT", 3)
DATABASE_STATEMENT_TIMEOUT = env_float("DATABASE_STATEMENT_TIMEOUT", 5)
# Through PgBouncer's transaction pooling (docs/operations.md, "Through PgBouncer"): a server
# connection serves this process for one transaction at a time, so nothing may outlive one.
DATABASE_TRANSACTION_POOLING = env_flag("DATABASE_TRANSACTION_POOLING")
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Our backend adds client-side deadlines: the server's statement_timeout cannot fire
    # while the server itself hangs (apiproject/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "apiproject.postgresql"
    DATABASES["default"]["OPTIONS"] = {
        **DATABASES["default"].get("OPTIONS", {}),
        "connect_timeout": DATABASE_CONNECT_TIMEOUT,
        # Just past the server's limit, so a live server cancels a slow query itself.
        "statement_deadline": DATABASE_STATEMENT_TIMEOUT + 0.25,
        "health_check_deadline": DATABASE_CONNECT_TIMEOUT,
    }
    statement_timeout_ms = int(DATABASE_STATEMENT_TIMEOUT * 1000)
    if DATABASE_TRANSACTION_POOLING:
        # PgBouncer refuses `options` at startup: the backend sets the limit in each
        # transaction. Neither prepared statements (Django's default already) nor
        # server-side cursors (QuerySet.iterator()) may outlive a transaction.
        DATABASES["default"]["OPTIONS"].update(
            transaction_statement_timeout=statement_timeout_ms, prepare_threshold=None
        )
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    else:
        DATABASES["default"]["OPTIONS"]["options"] = f"-c statement_timeout={statement_timeout_ms}"
elif DATABASE_TRANSACTION_POOLING:
    raise ImproperlyConfigured("DATABASE_TRANSACTION_POOLING=1 needs a postgres:// DATABASE_URL")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default serves a threaded development server: wait for the write lock
    # instead of failing with "database is locked", and take it when a transaction starts
    # so two transactions never deadlock upgrading read locks.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and rate limiting (docs/api.md, "Rate limiting") -------------------------------------

REDIS_URL = os.environ.get("REDIS_URL", "")
# A Redis Cluster (docs/operations.md, "Redis Cluster"): REDIS_URL names its seed nodes.
REDIS_CLUSTER = env_flag("REDIS_CLUSTER")
if REDIS_CLUSTER:
    if not REDIS_URL:
        raise ImproperlyConfigured("REDIS_CLUSTER=1 needs REDIS_URL: the cluster's seed nodes")
    REDIS_URL = cluster_seeds("REDIS_URL", REDIS_URL)
if REDIS_URL:
    # Shared by every process and host, so a key's budget holds across all of them.
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                # A silent Redis must not hang the workers: requests go on without counting.
                "SOCKET_CONNECT_TIMEOUT": env_float("REDIS_CONNECT_TIMEOUT", 0.25),
                "SOCKET_TIMEOUT": env_float("REDIS_TIMEOUT", 0.25),
            },
        }
    }
    if REDIS_CLUSTER:
        # django-redis's extension points, for redis-py's cluster client (the module says why
        # our own).
        CACHES["default"]["OPTIONS"].update(
            CLIENT_CLASS="apiproject.api.rediscluster.RedisClusterClient",
            CONNECTION_FACTORY="apiproject.api.rediscluster.RedisClusterConnectionFactory",
        )
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # django-ratelimit refuses caches that processes do not share. The development default
    # is one process on purpose; `check --deploy` still warns (apikeys.W001) without DEBUG.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

API_RATE_LIMIT = env_rate("API_RATE_LIMIT", "100/m")
API_FAILED_AUTH_RATE_LIMIT = env_rate("API_FAILED_AUTH_RATE_LIMIT", "60/m")
# Behind N proxies that each append to X-Forwarded-For, the client is the Nth address from
# the right; with 0 it is the socket's peer address.
API_TRUSTED_PROXY_COUNT = env_int("API_TRUSTED_PROXY_COUNT", 0)
if API_TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("API_TRUSTED_PROXY_COUNT must be 0 or more")
# Seconds a verified key's record stays in Redis (apikeys.keycache); 0 turns the cache off.
# Never in process memory: only a shared cache hears at once of a key revoked elsewhere.
API_KEY_CACHE_SECONDS = env_int("API_KEY_CACHE_SECONDS", 60)
if API_KEY_CACHE_SECONDS < 0:
    raise ImproperlyConfigured("API_KEY_CACHE_SECONDS must be 0 or more")
# When the cache answers nothing, our throttle serves the request and logs one warning.
RATELIMIT_FAIL_OPEN = True
# Failed admin logins (docs/admin.md, "Login limits"), in fixed windows of
# ADMIN_LOGIN_FAILURE_WINDOW seconds: past 10 for one username from one client IP, or 30 from
# one client IP, that address waits for the next window. Successes are not counted.
ADMIN_LOGIN_FAILURE_WINDOW = 15 * 60
ADMIN_LOGIN_FAILURES_PER_USERNAME_AND_IP = 10
ADMIN_LOGIN_FAILURES_PER_IP = 30

# --- Projects, keys and retries (docs/api.md) ---------------------------------------------------

API_PROJECTS_PER_USER = env_int("API_PROJECTS_PER_USER", 10_000)
if API_PROJECTS_PER_USER < 1:
    raise ImproperlyConfigured("API_PROJECTS_PER_USER must be 1 or more")
API_KEYS_PER_USER = env_int("API_KEYS_PER_USER", 100)
if API_KEYS_PER_USER < 1:
    raise ImproperlyConfigured("API_KEYS_PER_USER must be 1 or more")
# How long the answer to a POST sent with an Idempotency-Key is kept for a retry.
API_IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60
# GitHub's public keys that sign leak reports (docs/operations.md, "Leak reports: GitHub's
# keys"), a file the operator's cron job replaces; read while serving, so a new one counts
# without a restart. Unset: POST /api/v1/leaked-keys is an unknown path.
API_LEAK_REPORT_KEYS_FILE = os.environ.get("API_LEAK_REPORT_KEYS_FILE", "")

# --- Users and passwords ------------------------------------------------------------------------

AUTH_USER_MODEL = "users.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation -----------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# apiproject/formats: dates shown as 2025-01-15 12:00 (UTC), in admin lists and pages.
FORMAT_MODULE_PATH = ["apiproject.formats"]

# --- Static files (served by the project itself through WhiteNoise) -----------------------------

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Development serves straight from the apps' folders; production from `collectstatic`'s
    # output, with hashed names that can be cached forever.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Requests -----------------------------------------------------------------------------------

# The largest request body accepted; larger ones get 413 (docs/api.md, "Transport").
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DJANGO_MAX_BODY_BYTES", 1024 * 1024)

# --- REST framework -----------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apikeys.authentication.APIKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["apiproject.api.parsers.StrictJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "apiproject.api.pagination.PageLimitPagination",
    "DEFAULT_SCHEMA_CLASS": "apiproject.api.schema.APIAutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["apikeys.throttling.APIKeyRateThrottle"],
    # OPTIONS answers 405 like any method an endpoint does not serve.
    "DEFAULT_METADATA_CLASS": None,
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": ("apiproject.api.negotiation.RFC9110ContentNegotiation"),
    "EXCEPTION_HANDLER": "apiproject.api.errors.api_exception_handler",
    # JSON is the only representation: no ?format= override (docs/api.md, "Transport").
    "URL_FORMAT_OVERRIDE": None,
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%SZ",
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "API",
    "DESCRIPTION": "Users, projects and bearer API keys.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and docs are public: no key, whatever Authorization header comes along.
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apiproject.api.docs.strip_trailing_slashes",
        "users.schema.document_user_creation",
    ],
}

# --- Security -----------------------------------------------------------------------------------

# Behind a proxy that terminates TLS: the admin's login form posts from https://<host>, which
# Django's CSRF check must know (DJANGO_CSRF_TRUSTED_ORIGINS=https://admin.example.com), and
# the request is secure only if the proxy says so (DJANGO_TRUST_X_FORWARDED_PROTO=1, only
# when the proxy sets X-Forwarded-Proto itself).
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
if env_flag("DJANGO_TRUST_X_FORWARDED_PROTO"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG:
    # Behind TLS in production; `check --deploy` lists anything else that is missing.
    SESSION_COOKIE_SECURE = env_flag("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Every response says nosniff: RequestIDMiddleware, the outermost, sets it. Django's own (its
# default) is kept so that `check --deploy` does not warn (security.W006).
SECURE_CONTENT_TYPE_NOSNIFF = True
# HSTS and the HTTPS redirect are the deployment's choice (off by default: the development
# server and the tests speak plain HTTP). The redirect spares the probes, which load
# balancers send over plain HTTP to the process.
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_flag("DJANGO_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = env_flag("DJANGO_HSTS_PRELOAD")
SECURE_SSL_REDIRECT = env_flag("DJANGO_SSL_REDIRECT")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# --- Metrics ------------------------------------------------------------------------------------

# /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; without a token, nobody.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

# --- Logging ------------------------------------------------------------------------------------

LOG_FORMAT = os.environ.get("DJANGO_LOG_FORMAT") or "text"
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"DJANGO_LOG_FORMAT must be text or json, not {LOG_FORMAT!r}")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "apiproject.api.request_id.RequestIDLogFilter"}},
    "formatters": {
        "text": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        # One JSON object per line; the access line's fields (method, path, status,
        # duration_ms, key_prefix) come along as keys of their own.
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            # Django's own records carry the request and server objects: not for a log line.
            "reserved_attrs": [*RESERVED_ATTRS, "request", "server_time"],
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": LOG_FORMAT,
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        # Through the root handler only: Django's own console handler (on with DEBUG) would
        # print every django.* line a second time.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        # Django logs every 4xx as a WARNING: the access line already says it, at INFO.
        # 5xx stay (ERROR), beside our own line with the traceback.
        "django.request": {"level": "ERROR"},
        # A disallowed Host outside /api/ is Django's 400, which it also logs as an ERROR
        # with a traceback: a 4xx is the access line's alone (under /api/ our middleware
        # answers it before Django does).
        "django.security.DisallowedHost": {"level": "CRITICAL"},
    },
}
if DEBUG:
    # The development server logs each request itself (django.server); the access line says
    # the same, so a request is one line in the console. Its errors stay.
    LOGGING["loggers"]["django.server"] = {"level": "ERROR"}
