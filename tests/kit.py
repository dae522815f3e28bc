"""Plain helpers shared by the tests: reading the API's answers and the admin's change lists,
and sending requests with a key. Fixtures live in conftest.py, factories in factories.py."""

import base64
import importlib
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from http import HTTPStatus
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.management import call_command
from django.db.models import Model
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import clear_url_caches, reverse
from rest_framework.test import APIClient

from apikeys.keys import KEY_PATTERN
from apiproject.api import rediscluster
from users.models import User

# The error table (docs/api.md, "Error table"): code -> message.
MESSAGES = {
    "invalid_request": "The request was invalid",
    "authentication_required": "Authentication is required",
    "invalid_api_key": "Authentication failed",
    "forbidden": "The authenticated user doesn't have permission",
    "not_found": "The requested resource doesn't exist",
    "method_not_allowed": "The method is not allowed for this resource",
    "not_acceptable": "The requested representation is not available",
    "payload_too_large": "The request body is too large",
    "unsupported_media_type": "The request body must be JSON",
    "rate_limit_exceeded": "Rate limit exceeded",
    "internal_error": "Something went wrong on the server",
    "service_unavailable": "The service is temporarily unavailable",
}
# The scopes of the table in docs/api.md, "Scopes", in its order.
SCOPES = (
    "users:read",
    "users:write",
    "projects:read",
    "projects:write",
    "keys:read",
    "keys:write",
)
NEW_USER_PASSWORD = "a-Long-new-passw0rd"
# Shaped like a key, with a checksum that does not hold: refused before any query.
BAD_CHECKSUM_KEY = "ak_AAAAAAAA_" + "A" * 49
# Nothing listens on port 1: connections are refused at once.
REFUSING_REDIS_URL = "redis://127.0.0.1:1/0"


# --- The API ------------------------------------------------------------------------------------


def assert_error(response, status: HTTPStatus, code: str) -> dict:
    """The error envelope (docs/api.md, "Errors") with this status and code, and the error
    table's message for the code; returns the body's `error`."""
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert list(body) == ["error"]
    error = body["error"]
    assert {"code", "message", "details"} <= set(error) <= {"code", "message", "details", "fields"}
    assert (error["code"], error["message"]) == (code, MESSAGES[code])
    assert error["details"] is None or isinstance(error["details"], str)
    return error


def redis_cache(location: str) -> dict:
    """settings.CACHES for a Redis at `location`, with production's short timeouts (changing
    CACHES makes Django forget its cache connections). In a run on a Redis Cluster
    (REDIS_CLUSTER=1), `location` names its seed nodes: a Redis that refuses or never answers is
    then a cluster that cannot be reached."""
    options: dict[str, object] = {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25}
    if settings.REDIS_CLUSTER:
        options.update(CLIENT_CLASS=rediscluster.CLIENT_CLASS)
        options.update(CONNECTION_FACTORY=rediscluster.CONNECTION_FACTORY)
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": location,
            "OPTIONS": options,
        }
    }


def bearer_client(plaintext: str) -> APIClient:
    """An API client sending `Authorization: Bearer <plaintext>` with every request."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


def get_projects(plaintext: str, **extra: str):
    """GET /api/v1/projects with this key, from a client of its own (no session)."""
    return bearer_client(plaintext).get(reverse("project-list"), **extra)


def new_user_body(username: str = "newuser", **overrides: object) -> dict[str, object]:
    """A valid body for POST /api/v1/users."""
    return {
        "username": username,
        "email": f"{username}@example.com",
        "password": NEW_USER_PASSWORD,
        **overrides,
    }


def padded_json(size: int, **overrides: object) -> bytes:
    """A valid creation body padded with JSON whitespace to exactly `size` bytes."""
    text = json.dumps(new_user_body(**overrides))
    assert len(text) <= size
    return (text + " " * (size - len(text))).encode()


# --- Commands and text ---------------------------------------------------------------------------


def run_command(command: str, *args: str) -> tuple[str, str]:
    """call_command, returning (stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def found(pattern: re.Pattern[str], text: str) -> str:
    """The first group of `pattern`'s first match in `text`, which must have one."""
    match = pattern.search(text)
    assert match, text
    return match.group(1)


# --- Keys ---------------------------------------------------------------------------------------


def key_in(text: str) -> str:
    """The key shown in `text` (a page, a command's output)."""
    match = KEY_PATTERN.search(text)
    assert match, "no key is shown"
    return match.group()


def secret_of(plaintext: str) -> str:
    """The part of a key that must never be kept anywhere: everything after the prefix."""
    return plaintext.split("_")[2]


# --- Leak reports (docs/api.md, "Leak reports") -------------------------------------------------

LEAK_REPORTS_URL = "/api/v1/leaked-keys"


@dataclass(frozen=True)
class GitHubKey:
    """A P-256 key pair standing in for one of GitHub's secret scanning keys."""

    identifier: str
    private_key: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls, identifier: str) -> "GitHubKey":
        return cls(identifier, ec.generate_private_key(ec.SECP256R1()))

    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def sign(self, body: bytes) -> str:
        """The signature GitHub sends: base64 of the DER ECDSA SHA-256 signature of `body`."""
        der = self.private_key.sign(body, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(der).decode()

    def headers(self, body: bytes, *, http: bool = False) -> dict[str, str]:
        """The signature headers of `body`: as the test client's extra arguments (WSGI names),
        or with `http` as an HTTP client sends them."""
        if http:
            return {
                "Github-Public-Key-Identifier": self.identifier,
                "Github-Public-Key-Signature": self.sign(body),
            }
        return {
            "HTTP_GITHUB_PUBLIC_KEY_IDENTIFIER": self.identifier,
            "HTTP_GITHUB_PUBLIC_KEY_SIGNATURE": self.sign(body),
        }


# Standing in for GitHub's current secret scanning key, for the whole test run.
GITHUB_KEY = GitHubKey.generate("github-key-1")


def github_keys_json(*keys: GitHubKey, current: GitHubKey | None = None) -> str:
    """GitHub's public keys document listing `keys`: `current` (else the first) is current."""
    current = current or keys[0]
    return json.dumps(
        {
            "public_keys": [
                {
                    "key_identifier": key.identifier,
                    "key": key.public_pem(),
                    "is_current": key is current,
                }
                for key in keys
            ]
        }
    )


def report_body(*tokens: str, url: str = "https://github.com/octo/repo/blob/main/x") -> bytes:
    """A leak report of these tokens, as GitHub sends it."""
    report = [
        {"token": token, "type": "api_key", "url": url, "source": "content"} for token in tokens
    ]
    return json.dumps(report).encode()


def reload_urls() -> None:
    """Read the URL conf again: it registers the leak reports' path only when the setting
    is set."""
    importlib.reload(importlib.import_module(settings.ROOT_URLCONF))
    clear_url_caches()


@contextmanager
def leak_reports_enabled(keys_file: Path) -> Iterator[None]:
    """API_LEAK_REPORT_KEYS_FILE names `keys_file`, and the URL conf serves leak reports."""
    try:
        with override_settings(API_LEAK_REPORT_KEYS_FILE=str(keys_file)):
            reload_urls()
            yield
    finally:
        reload_urls()


@dataclass(frozen=True)
class LeakReports:
    """Leak reports enabled with `keys_file` listing `github_key`; sends signed reports."""

    keys_file: Path
    github_key: GitHubKey

    def post(
        self,
        body: bytes,
        *,
        client: Client | None = None,
        signed_by: GitHubKey | None = None,
        **extra: Any,
    ):
        """POST `body` to the leak reports' path, signed by `signed_by` (else GitHub's key),
        from `client` (else a fresh one); `extra` adds to (or, as None, drops) headers."""
        headers = (signed_by or self.github_key).headers(body)
        headers.update(extra)
        headers = {name: value for name, value in headers.items() if value is not None}
        client = client or APIClient()
        return client.post(LEAK_REPORTS_URL, body, content_type="application/json", **headers)


# --- The admin ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeList:
    """An admin change list as the page shows it."""

    headers: dict[str, str]  # column -> header text, in the page's order
    rows: list[dict[str, str]]  # one per listed object, in the page's order: field -> text
    objects: list[Model]  # the listed objects (the change list's result_list), in that order


class _ChangeListTable(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.headers: dict[str, str] = {}
        self.rows: list[dict[str, str]] = []
        self._in_body = False
        self._cell: tuple[str, str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append({})
        elif tag in ("th", "td"):
            for css_class in (dict(attrs).get("class") or "").split():
                if css_class.startswith("column-") and not self._in_body:
                    self._cell = ("header", css_class.removeprefix("column-"))
                elif css_class.startswith("field-") and self._in_body:
                    self._cell = ("row", css_class.removeprefix("field-"))
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag in ("th", "td") and self._cell is not None:
            kind, name = self._cell
            text = " ".join("".join(self._text).split())
            if kind == "header":
                self.headers[name] = text
            else:
                self.rows[-1][name] = text
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._text.append(data)


def changelist(response) -> ChangeList:
    """The change list a response of an admin list page shows."""
    table = _ChangeListTable()
    table.feed(response.content.decode())
    objects = list(response.context["cl"].result_list)
    assert len(table.rows) == len(objects), "the page shows other rows than it lists"
    return ChangeList(headers=table.headers, rows=table.rows, objects=objects)


def logged_in(client: Client, user: User) -> Client:
    """The client (pytest-django's `client`, say), logged in to admin as `user`."""
    client.force_login(user)
    return client


def assert_read_only_page(response, *fields: str) -> None:
    """An admin change page that shows its object without a way to change it: no save
    buttons, and no input for these fields."""
    assert response.status_code == HTTPStatus.OK
    content = response.content.decode()
    for name in ["_save", "_continue", *fields]:
        assert f'name="{name}"' not in content, name


def count_statements(queries: CaptureQueriesContext, table: str = "") -> list[str]:
    """The COUNT statements among the captured queries (over `table` when one is named)."""
    return [
        query["sql"]
        for query in queries.captured_queries
        if "COUNT(" in query["sql"].upper() and table in query["sql"]
    ]
