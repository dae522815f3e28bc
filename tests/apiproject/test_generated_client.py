"""A client generated from the live /api/schema with openapi-python-client (pinned in
requirements-dev.txt) drives every operation of the API against a real server, unmodified:
what the schema says is what the server answers (issue 11).

The client is generated during the test, into a temporary directory, and never committed.
It is made with `raise_on_unexpected_status`, so a status the schema does not document for an
operation fails the test; its models fail on a missing required field or a null where the
schema promises a value, and every answer is checked to carry no field the schema leaves out.
"""

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from types import ModuleType
from typing import Any

import pytest

from tests.kit import GITHUB_KEY, GitHubKey, github_keys_json
from tests.processes import migrate, run_python, serving

IN_CI = os.environ.get("CI") == "true"
PACKAGE = "generated_api_client"

# Alice, and a staff user who may read and create users; the staff user's key.
USERS_SCRIPT = """
from django.contrib.auth.models import Permission
from apikeys.services import apikey_issue
from users.models import User
User.objects.create_user("alice", "alice@example.com", "unused-passw0rd")
staff = User.objects.create_user("staff", "staff@example.com", "unused-passw0rd", is_staff=True)
staff.user_permissions.set(
    Permission.objects.filter(
        content_type__app_label="users", codename__in=["view_user", "add_user"]
    )
)
print(apikey_issue(owner=staff).plaintext)
"""


@pytest.fixture(scope="module", autouse=True)
def _generator_installed() -> None:
    if importlib.util.find_spec("openapi_python_client") is None:
        reason = "needs openapi-python-client: pip install -r requirements-dev.txt"
        if IN_CI:
            pytest.fail(f"CI requires openapi-python-client: {reason}")
        pytest.skip(reason)


@dataclass(frozen=True)
class Server:
    base_url: str
    alice_key: str
    staff_key: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn with production settings on a fresh SQLite file of its own, leak reports on
    (GITHUB_KEY standing in for GitHub's), so that the schema holds every operation; Alice with
    a key from `createapikey`, and a staff user (users.view_user, users.add_user) with a key."""
    workdir = tmp_path_factory.mktemp("generated-client-server")
    keys_file = workdir / "github-keys.json"
    keys_file.write_text(github_keys_json(GITHUB_KEY))
    environment = {
        "DJANGO_SECRET_KEY": "generated-client-test-secret",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "API_LEAK_REPORT_KEYS_FILE": str(keys_file),
    }

    def manage(*args: str) -> str:
        result = run_python(["manage.py", *args], **environment)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def users_and_keys() -> tuple[str, str]:
        staff_key = manage("shell", "-c", USERS_SCRIPT).split()[-1]
        # The key alone on the last line of stdout (docs/api.md, "Commands").
        alice_key = manage("createapikey", "alice", "--name", "first").splitlines()[-1]
        return alice_key, staff_key

    migrate(**environment)
    # The users are made while the server starts.
    with ThreadPoolExecutor(max_workers=1) as pool:
        keys = pool.submit(users_and_keys)
        with serving(
            ["-m", "gunicorn", "apiproject.wsgi", "-b", "127.0.0.1:{port}", "-w", "1"],
            **environment,
        ) as base_url:
            yield Server(base_url, *keys.result())


@dataclass(frozen=True)
class GeneratedClient:
    package: ModuleType
    base_url: str

    @property
    def models(self) -> ModuleType:
        return importlib.import_module(f"{PACKAGE}.models")

    def operation(self, name: str) -> ModuleType:
        """The generated module of one operation, by its operationId."""
        return importlib.import_module(f"{PACKAGE}.api.v1.{name}")

    def call(self, name: str, key: str, **arguments: Any) -> Any:
        """`sync_detailed` of an operation with a fresh client carrying `key`: the status,
        headers and parsed body."""
        client = self.package.AuthenticatedClient(
            base_url=self.base_url, token=key, raise_on_unexpected_status=True, timeout=10
        )
        with client:
            return self.operation(name).sync_detailed(client=client, **arguments)


@pytest.fixture(scope="module")
def generated(
    server: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GeneratedClient]:
    """The client generated from the schema the live server serves, imported from a temporary
    directory (and forgotten afterwards)."""
    workdir = tmp_path_factory.mktemp("generated-client")
    # The schema as served (YAML: the API has no format override); the generator reads it.
    with urllib.request.urlopen(f"{server.base_url}/api/schema", timeout=10) as response:
        assert response.status == HTTPStatus.OK
        (workdir / "schema.yaml").write_bytes(response.read())
    # The default post hooks run ruff over the generated code, only to tidy it; nothing here
    # reads it, and ruff need not be on PATH, so they are off.
    (workdir / "config.json").write_text(
        json.dumps({"package_name_override": PACKAGE, "post_hooks": []})
    )
    generate = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(workdir / "schema.yaml"),
            "--config",
            str(workdir / "config.json"),
            "--output-path",
            str(workdir / PACKAGE),
            "--meta",
            "none",
            # Anything in the schema the generator has to skip or guess at fails the test.
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert generate.returncode == 0, generate.stdout + generate.stderr
    sys.path.insert(0, str(workdir))
    try:
        yield GeneratedClient(importlib.import_module(PACKAGE), server.base_url)
    finally:
        sys.path.remove(str(workdir))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def documented(parsed: Any) -> Any:
    """`parsed` after checking that the answer held no field the schema leaves out, nested
    objects included (the generated models keep those aside as additional properties)."""
    # The models are attrs classes; attrs itself is only the generated client's dependency.
    fields = type(parsed).__attrs_attrs__
    declared = [f.name for f in fields if f.name != "additional_properties"]
    if not declared:
        return parsed  # a map (an error's `fields`): its entries are its properties
    assert parsed.additional_properties == {}, type(parsed).__name__
    for name in declared:
        value = getattr(parsed, name)
        for item in value if isinstance(value, list) else [value]:
            if hasattr(type(item), "__attrs_attrs__"):
                documented(item)
    return parsed


def error_of(response: Any, status: HTTPStatus, code: str) -> Any:
    """The error body of `response`, parsed by the generated client, after checking that the
    answer has `status` and the error `code`."""
    assert response.status_code == status, response.content
    error = documented(response.parsed).error
    assert error.code == code
    return error


def answered(response: Any, status: HTTPStatus, model: type) -> Any:
    """The documented body of an answer with this status: an instance of `model`."""
    assert response.status_code == status
    body = documented(response.parsed)
    assert isinstance(body, model)
    return body


def is_utc_second(moment: Any) -> bool:
    """A datetime as the API writes them: UTC, whole seconds (docs/api.md, "Transport")."""
    return (
        isinstance(moment, datetime)
        and moment.utcoffset() == timedelta(0)
        and moment.microsecond == 0
    )


def test_users(generated: GeneratedClient, server: Server):
    models = generated.models

    me = generated.call("v1_users_me_retrieve", server.alice_key)
    alice = answered(me, HTTPStatus.OK, models.User)
    assert (alice.username, alice.email) == ("alice", "alice@example.com")
    assert re.fullmatch(r"[1-9][0-9]*", alice.id)
    assert is_utc_second(alice.created_at)

    again = generated.call("v1_users_retrieve", server.alice_key, user_id=alice.id)
    assert again.status_code == HTTPStatus.OK
    assert documented(again.parsed) == alice

    created = generated.call(
        "v1_users_create",
        server.staff_key,
        body=models.UserCreate(username="ada", email="ada@example.com", password="correct-horse-9"),
    )
    ada = answered(created, HTTPStatus.CREATED, models.User)
    assert ada.username == "ada"
    assert created.headers["Location"] == f"/api/v1/users/{ada.id}"

    # Alice may not read another user; staff may, and an unknown id is 404.
    error_of(
        generated.call("v1_users_retrieve", server.alice_key, user_id=ada.id),
        HTTPStatus.FORBIDDEN,
        "forbidden",
    )
    assert (
        documented(generated.call("v1_users_retrieve", server.staff_key, user_id=ada.id).parsed)
        == ada
    )
    error_of(
        generated.call("v1_users_retrieve", server.staff_key, user_id="999999"),
        HTTPStatus.NOT_FOUND,
        "not_found",
    )

    # A refused body: the 400's error lists every problem by field.
    refused = generated.call(
        "v1_users_create",
        server.staff_key,
        body=models.UserCreate(username="ada", email="not-an-address", password="short"),
    )
    error = error_of(refused, HTTPStatus.BAD_REQUEST, "invalid_request")
    assert isinstance(error, models.ValidationErrorDetail)
    assert {"username", "email", "password"} <= set(error.fields.additional_properties)


def test_projects(generated: GeneratedClient, server: Server):
    models, key = generated.models, server.alice_key

    def create(body, **options: str):
        return generated.call("v1_projects_create", key, body=body, **options)

    def create_apollo():
        body = models.ProjectWrite(name="  Apollo ", description="To the moon")
        return create(body, idempotency_key="create-apollo")

    created = create_apollo()
    apollo = answered(created, HTTPStatus.CREATED, models.Project)
    assert (apollo.name, apollo.description) == ("Apollo", "To the moon")
    assert re.fullmatch(r"project-[1-9][0-9]*", apollo.id)
    assert is_utc_second(apollo.created_at)
    assert created.headers["Location"] == f"/api/v1/projects/{apollo.id}"
    assert "Idempotent-Replayed" not in created.headers

    # The retry of that POST: the kept answer, marked as replayed, and no second project.
    replayed = create_apollo()
    assert replayed.status_code == HTTPStatus.CREATED
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert documented(replayed.parsed) == apollo

    # The same Idempotency-Key for another body: 422.
    error_of(
        create(models.ProjectWrite(name="Gemini"), idempotency_key="create-apollo"),
        HTTPStatus.UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )

    # Description absent, and null: both "".
    gemini = documented(create(models.ProjectWrite(name="Gemini")).parsed)
    mercury = documented(create(models.ProjectWrite(name="Mercury", description=None)).parsed)
    assert gemini.description == mercury.description == ""

    error = error_of(
        create(models.ProjectWrite(name="apollo")),
        HTTPStatus.BAD_REQUEST,
        "invalid_request",
    )
    assert "name" in error.fields.additional_properties

    listed = generated.call("v1_projects_list", key, page=1, limit=2)
    page = answered(listed, HTTPStatus.OK, models.PaginatedProjectList)
    assert (page.total, page.page, page.limit) == (3, 1, 2)
    assert [documented(p) for p in page.data] == [mercury, gemini]  # newest first
    assert 'rel="next"' in listed.headers["Link"]
    last = documented(generated.call("v1_projects_list", key, page=2, limit=2).parsed)
    assert last.data == [apollo]

    fetched = generated.call("v1_projects_retrieve", key, project_id=apollo.id)
    assert fetched.status_code == HTTPStatus.OK
    assert documented(fetched.parsed) == apollo

    patched = generated.call(
        "v1_projects_partial_update",
        key,
        project_id=apollo.id,
        body=models.PatchedProjectWrite(name="Artemis"),
    )
    assert patched.status_code == HTTPStatus.OK
    artemis = documented(patched.parsed)
    assert (artemis.id, artemis.name, artemis.description) == (
        apollo.id,
        "Artemis",
        "To the moon",
    )

    # Another user's project is answered like one that does not exist.
    error_of(
        generated.call("v1_projects_retrieve", server.staff_key, project_id=apollo.id),
        HTTPStatus.NOT_FOUND,
        "not_found",
    )

    deleted = generated.call("v1_projects_destroy", key, project_id=apollo.id)
    assert deleted.status_code == HTTPStatus.NO_CONTENT
    assert deleted.content == b""
    error_of(
        generated.call("v1_projects_destroy", key, project_id=apollo.id),
        HTTPStatus.NOT_FOUND,
        "not_found",
    )
    error_of(
        generated.call("v1_projects_retrieve", key, project_id=apollo.id),
        HTTPStatus.NOT_FOUND,
        "not_found",
    )
    assert documented(generated.call("v1_projects_list", key).parsed).total == 2


def test_keys(generated: GeneratedClient, server: Server):
    models, key = generated.models, server.staff_key
    everything = set(models.ScopesEnum)

    listed = generated.call("v1_keys_list", key)
    assert listed.status_code == HTTPStatus.OK
    (own,) = [documented(k) for k in documented(listed.parsed).data]
    assert isinstance(own, models.APIKey)
    assert key.startswith(f"ak_{own.id}_")
    assert own.status == models.StatusEnum.ACTIVE
    assert set(own.scopes) == everything
    assert (own.expires_at, own.revoked_at) == (None, None)
    assert is_utc_second(own.created_at) and is_utc_second(own.last_used_at)

    # Issue a narrow key.
    issued = generated.call(
        "v1_keys_create",
        key,
        body=models.APIKeyCreate(name="read-only", scopes=[models.ScopesEnum.PROJECTSREAD]),
        idempotency_key="issue-read-only",
    )
    narrow = answered(issued, HTTPStatus.CREATED, models.IssuedAPIKey)
    assert (narrow.name, narrow.scopes, narrow.status) == (
        "read-only",
        [models.ScopesEnum.PROJECTSREAD],
        models.StatusEnum.ACTIVE,
    )
    assert narrow.key.startswith(f"ak_{narrow.id}_")
    assert issued.headers["Location"] == f"/api/v1/keys/{narrow.id}"
    assert issued.headers["Cache-Control"] == "no-store"

    # A retry never shows the plaintext again: 409.
    retry = generated.call(
        "v1_keys_create",
        key,
        body=models.APIKeyCreate(name="read-only", scopes=[models.ScopesEnum.PROJECTSREAD]),
        idempotency_key="issue-read-only",
    )
    assert narrow.id in error_of(retry, HTTPStatus.CONFLICT, "conflict").details

    # It reads projects, and may not write them: 403 insufficient_scope, naming the scope.
    assert generated.call("v1_projects_list", narrow.key).status_code == HTTPStatus.OK
    refused = generated.call(
        "v1_projects_create", narrow.key, body=models.ProjectWrite(name="Not allowed")
    )
    error = error_of(refused, HTTPStatus.FORBIDDEN, "insufficient_scope")
    assert "projects:write" in error.details
    assert 'scope="projects:write"' in refused.headers["WWW-Authenticate"]
    error_of(
        generated.call("v1_users_me_retrieve", narrow.key),
        HTTPStatus.FORBIDDEN,
        "insufficient_scope",
    )

    fetched = generated.call("v1_keys_retrieve", key, key_id=narrow.id)
    seen = answered(fetched, HTTPStatus.OK, models.APIKey)
    assert not hasattr(seen, "key")
    assert (seen.id, seen.name, seen.scopes, seen.created_at) == (
        narrow.id,
        narrow.name,
        narrow.scopes,
        narrow.created_at,
    )
    assert is_utc_second(seen.last_used_at)
    error_of(
        generated.call("v1_keys_retrieve", server.alice_key, key_id=narrow.id),
        HTTPStatus.NOT_FOUND,
        "not_found",
    )

    # Roll it: a new key like it; the old one keeps working for the grace period.
    rolled = generated.call(
        "v1_keys_roll_create", key, key_id=narrow.id, body=models.APIKeyRoll(grace_seconds=600)
    )
    successor = answered(rolled, HTTPStatus.CREATED, models.IssuedAPIKey)
    assert successor.id != narrow.id
    assert (successor.name, successor.scopes) == (narrow.name, narrow.scopes)
    assert rolled.headers["Cache-Control"] == "no-store"
    old = documented(generated.call("v1_keys_retrieve", key, key_id=narrow.id).parsed)
    assert is_utc_second(old.expires_at)
    assert generated.call("v1_projects_list", narrow.key).status_code == HTTPStatus.OK
    assert generated.call("v1_projects_list", successor.key).status_code == HTTPStatus.OK

    # Revoke both: they stop working at once (401), and a revoked key cannot be rolled (409).
    for revoked in (narrow, successor):
        response = generated.call("v1_keys_destroy", key, key_id=revoked.id)
        assert response.status_code == HTTPStatus.NO_CONTENT
        error_of(
            generated.call("v1_projects_list", revoked.key),
            HTTPStatus.UNAUTHORIZED,
            "invalid_api_key",
        )
    gone = documented(generated.call("v1_keys_retrieve", key, key_id=successor.id).parsed)
    assert gone.status == models.StatusEnum.REVOKED
    assert is_utc_second(gone.revoked_at)
    error_of(
        generated.call("v1_keys_roll_create", key, key_id=successor.id, body=models.APIKeyRoll()),
        HTTPStatus.CONFLICT,
        "conflict",
    )
    listed = documented(generated.call("v1_keys_list", key, page=1, limit=100).parsed)
    assert [k.id for k in listed.data] == [successor.id, narrow.id, own.id]

    # What happened to the rolled key, and how much it was used.
    events = answered(
        generated.call("v1_keys_events_list", key, key_id=narrow.id, page=1, limit=20),
        HTTPStatus.OK,
        models.PaginatedKeyEventList,
    )
    assert [(event.type_, event.via) for event in events.data] == [
        (models.TypeEnum.REVOKED, models.ViaEnum.API),
        (models.TypeEnum.ROLLED, models.ViaEnum.API),
        (models.TypeEnum.ISSUED, models.ViaEnum.API),
    ]
    assert all(is_utc_second(event.at) and event.ip for event in events.data)
    usage = answered(
        generated.call("v1_keys_usage_retrieve", key, key_id=narrow.id, days=3),
        HTTPStatus.OK,
        models.KeyUsage,
    )
    assert usage.key_id == narrow.id
    assert [day.date for day in usage.days][-1] == datetime.now(UTC).date()
    # Two reads of projects and two 403s for a scope it lacks; its 401s after the revocation
    # are not its: a revoked key is no key.
    assert (usage.days[-1].requests, usage.days[-1].errors) == (4, 2)
    error_of(
        generated.call("v1_keys_usage_retrieve", key, key_id=narrow.id, days=91),
        HTTPStatus.BAD_REQUEST,
        "invalid_request",
    )


def report_leaks(
    generated: GeneratedClient, report: list, *, signed_by: GitHubKey = GITHUB_KEY
) -> Any:
    """POST /leaked-keys through the generated client, without a key, signed by `signed_by`
    over the very bytes the client sends (it encodes the body itself, as httpx does)."""
    import httpx  # the generated client's own dependency, like attrs

    operation = generated.operation("v1_leaked_keys_create")
    identity = {"github_public_key_identifier": signed_by.identifier}
    unsigned = operation._get_kwargs(body=report, github_public_key_signature="", **identity)
    sent = httpx.Request(unsigned["method"], unsigned["url"], json=unsigned["json"]).content
    client = generated.package.Client(
        base_url=generated.base_url, raise_on_unexpected_status=True, timeout=10
    )
    with client:
        return operation.sync_detailed(
            client=client, body=report, github_public_key_signature=signed_by.sign(sent), **identity
        )


def test_leak_reports(generated: GeneratedClient, server: Server):
    models = generated.models
    issued = generated.call("v1_keys_create", server.alice_key, body=models.APIKeyCreate())
    leaked = answered(issued, HTTPStatus.CREATED, models.IssuedAPIKey)
    found_at = "https://github.com/octo/repo/blob/main/.env"
    report = [
        models.ReportedToken(token=leaked.key, type_="ak", url=found_at, source="content"),
        models.ReportedToken(token="ak_notours_x", type_="ak"),
    ]

    # Not GitHub's signature: 401 with the challenge, and nothing revoked.
    impostor = GitHubKey.generate(GITHUB_KEY.identifier)
    refused = report_leaks(generated, report, signed_by=impostor)
    error_of(refused, HTTPStatus.UNAUTHORIZED, "invalid_api_key")
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'
    assert generated.call("v1_projects_list", leaked.key).status_code == HTTPStatus.OK

    response = report_leaks(generated, report)

    assert response.status_code == HTTPStatus.OK
    verdicts = [documented(verdict) for verdict in response.parsed]
    assert [(v.token_raw, v.token_type, v.label) for v in verdicts] == [
        (leaked.key, "ak", models.LabelEnum.TRUE_POSITIVE),
        ("ak_notours_x", "ak", models.LabelEnum.FALSE_POSITIVE),
    ]
    # Revoked at once, with an event that says how and where it was found.
    error_of(
        generated.call("v1_projects_list", leaked.key), HTTPStatus.UNAUTHORIZED, "invalid_api_key"
    )
    events = generated.call("v1_keys_events_list", server.alice_key, key_id=leaked.id)
    revoked = documented(documented(events.parsed).data[0])
    assert (revoked.type_, revoked.via, revoked.actor, revoked.ip) == (
        models.TypeEnum.REVOKED,
        models.ViaEnum.LEAK_REPORT,
        None,
        None,
    )
    assert revoked.details.additional_properties == {"url": found_at}


# --- Every 400, as the schema describes it -------------------------------------------------------

MALFORMED_JSON = b'{"name": "Apollo"'
# What the generated client cannot send (a body that is not JSON, a field its model does not
# have), or can, but wrongly (a page of 0): (operation, method, path, request, key, whether the
# error lists `fields`). Every one is a 400 the service gives.
BAD_REQUESTS = {
    "malformed_json_body": (
        "v1_projects_create", "POST", "/api/v1/projects", {"content": MALFORMED_JSON}, "alice",
        False,
    ),
    "malformed_json_body_of_a_patch": (
        "v1_projects_partial_update", "PATCH", "/api/v1/projects/project-999999",
        {"content": MALFORMED_JSON}, "alice", False,
    ),
    "malformed_json_body_of_a_user": (
        "v1_users_create", "POST", "/api/v1/users", {"content": MALFORMED_JSON}, "staff", False,
    ),
    "malformed_json_body_of_a_key": (
        "v1_keys_create", "POST", "/api/v1/keys", {"content": MALFORMED_JSON}, "alice", False,
    ),
    "malformed_json_body_of_a_roll": (
        "v1_keys_roll_create", "POST", "/api/v1/keys/0000000000/roll",
        {"content": MALFORMED_JSON}, "alice", False,
    ),
    "malformed_json_body_with_an_idempotency_key": (
        "v1_projects_create", "POST", "/api/v1/projects",
        {"content": MALFORMED_JSON, "headers": {"Idempotency-Key": "bad-body"}}, "alice", False,
    ),
    "json_nested_too_deeply": (
        "v1_projects_create", "POST", "/api/v1/projects", {"content": b"[" * 5000 + b"]" * 5000},
        "alice", False,
    ),
    "body_not_an_object": (
        "v1_projects_create", "POST", "/api/v1/projects", {"content": b"[]"}, "alice", True,
    ),
    "unknown_field": (
        "v1_projects_create", "POST", "/api/v1/projects",
        {"content": b'{"name": "Apollo", "owner": 1}'}, "alice", True,
    ),
    "unknown_field_of_a_user": (
        "v1_users_create", "POST", "/api/v1/users",
        {"content": b'{"username": "bob", "is_staff": true}'}, "staff", True,
    ),
    "invalid_field": (
        "v1_projects_create", "POST", "/api/v1/projects", {"content": b'{"name": ""}'}, "alice",
        True,
    ),
    "malformed_idempotency_key": (
        "v1_projects_create", "POST", "/api/v1/projects",
        {"content": b'{"name": "Apollo"}', "headers": {"Idempotency-Key": "x" * 256}}, "alice",
        True,
    ),
    "page_of_zero": (
        "v1_projects_list", "GET", "/api/v1/projects", {"params": {"page": "0"}}, "alice", True,
    ),
    "limit_not_a_number": (
        "v1_projects_list", "GET", "/api/v1/projects", {"params": {"limit": "abc"}}, "alice",
        True,
    ),
    "limit_too_large": (
        "v1_keys_list", "GET", "/api/v1/keys", {"params": {"limit": "500"}}, "alice", True,
    ),
    "too_many_query_parameters": (
        "v1_projects_list", "GET", "/api/v1/projects",
        {"params": {f"p{n}": "1" for n in range(1001)}}, "alice", False,
    ),
    # Signed by GitHub (sent with a key too, which counts for nothing there).
    "leak_report_not_an_array": (
        "v1_leaked_keys_create", "POST", "/api/v1/leaked-keys",
        {"content": b"{}", "headers": GITHUB_KEY.headers(b"{}", http=True)}, "alice", True,
    ),
    "leak_report_malformed_json": (
        "v1_leaked_keys_create", "POST", "/api/v1/leaked-keys",
        {"content": MALFORMED_JSON, "headers": GITHUB_KEY.headers(MALFORMED_JSON, http=True)},
        "alice", False,
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("operation", "method", "path", "sent", "who", "lists_fields"),
    BAD_REQUESTS.values(),
    ids=BAD_REQUESTS.keys(),
)
def test_every_400_is_the_one_the_schema_describes(
    generated: GeneratedClient, server: Server, operation, method, path, sent, who, lists_fields
):
    key = server.alice_key if who == "alice" else server.staff_key
    client = generated.package.AuthenticatedClient(
        base_url=generated.base_url, token=key, raise_on_unexpected_status=True, timeout=10
    )
    headers = {"Content-Type": "application/json", **sent.get("headers", {})}
    with client:
        raw = client.get_httpx_client().request(
            method, path, content=sent.get("content"), params=sent.get("params"), headers=headers
        )
        # Parsed by the operation's own generated code, as its sync_detailed would.
        response = generated.operation(operation)._build_response(client=client, response=raw)

    error = error_of(response, HTTPStatus.BAD_REQUEST, "invalid_request")
    assert isinstance(error, generated.models.ValidationErrorDetail)
    assert isinstance(error.details, str)
    # `fields` on validation errors only (docs/api.md, "Errors").
    assert (error.fields is not generated.package.types.UNSET) == lists_fields, raw.text
