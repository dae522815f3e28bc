"""The key management commands: createapikey, revokeapikey and listapikeys."""

import io
import re
import subprocess
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from apikeys.models import APIKey
from apikeys.services import apikey_revoke
from tests.factories import UserFactory
from tests.processes import run_python

KEY_FORMAT = re.compile(r"ak_[A-Za-z0-9]+_[A-Za-z0-9]+")
NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
HEADER = [
    "PREFIX",
    "NAME",
    "USER",
    "CREATED",
    "LAST USED",
    "EXPIRES",
    "RATE LIMIT",
    "SCOPES",
    "STATUS",
]
COLUMN_GAP = re.compile(r" {2,}")


@pytest.fixture
def frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


def run(command: str, *args: str) -> tuple[str, str]:
    """call_command, returning (stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def get_projects(key: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.get(reverse("project-list"))


def table_rows(stdout: str) -> tuple[list[str], dict[str, list[str]]]:
    """listapikeys' header cells and its rows' cells by prefix."""
    header, *lines = stdout.splitlines()
    rows = [COLUMN_GAP.split(line.strip()) for line in lines]
    return COLUMN_GAP.split(header.strip()), {cells[0]: cells for cells in rows}


# --- createapikey ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_createapikey_prints_the_key_alone_as_the_last_line_of_stdout(user):
    stdout, _ = run("createapikey", user.username)

    *_, last_line = stdout.splitlines()
    assert KEY_FORMAT.fullmatch(last_line)
    assert stdout == f"{last_line}\n"


@pytest.mark.django_db
def test_createapikey_key_works_against_the_api(user):
    stdout, _ = run("createapikey", user.username)

    response = get_projects(stdout.splitlines()[-1])

    assert response.status_code == HTTPStatus.OK


@pytest.mark.django_db
def test_createapikey_key_belongs_to_the_named_user(user):
    stdout, _ = run("createapikey", user.username)

    prefix = stdout.splitlines()[-1].split("_")[1]
    assert APIKey.objects.get(prefix=prefix).owner == user


@pytest.mark.django_db
def test_createapikey_sends_its_other_messages_to_stderr(user):
    stdout, stderr = run("createapikey", user.username)

    assert stderr.strip()
    assert stdout.splitlines()[-1] not in stderr


@pytest.mark.django_db
def test_createapikey_sets_name_and_expiry(user, frozen_clock):
    run("createapikey", user.username, "--name", "deploy bot", "--expires-in", "7")

    key = APIKey.objects.get(owner=user)
    assert key.name == "deploy bot"
    assert key.expires_at == NOW + timedelta(days=7)


@pytest.mark.django_db
def test_createapikey_key_never_expires_by_default(user):
    run("createapikey", user.username)

    assert APIKey.objects.get(owner=user).expires_at is None


@pytest.mark.django_db
def test_createapikey_matches_the_username_ignoring_case():
    alice = UserFactory(username="Alice")

    run("createapikey", "aLICE")

    assert APIKey.objects.get().owner == alice


@pytest.mark.django_db
def test_createapikey_for_unknown_user_is_a_command_error():
    with pytest.raises(CommandError):
        run("createapikey", "nobody")


@pytest.mark.django_db
@pytest.mark.parametrize("days", ["abc", "0", "-1", "1.5", ""])
def test_createapikey_refuses_an_invalid_expiry(user, days):
    with pytest.raises(CommandError):
        run("createapikey", user.username, "--expires-in", days)

    assert not APIKey.objects.exists()


@pytest.mark.django_db
def test_createapikey_refuses_an_inactive_user():
    inactive = UserFactory(is_active=False)

    with pytest.raises(CommandError):
        run("createapikey", inactive.username)

    assert not APIKey.objects.exists()


# --- revokeapikey ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_revokeapikey_makes_the_key_fail_against_the_api(user, issue_key):
    issued = issue_key(user)

    run("revokeapikey", issued.api_key.prefix)

    assert get_projects(issued.plaintext).status_code == HTTPStatus.UNAUTHORIZED


@pytest.mark.django_db
def test_revokeapikey_leaves_other_keys_working(user, issue_key):
    revoked, kept = issue_key(user), issue_key(user)

    run("revokeapikey", revoked.api_key.prefix)

    assert get_projects(kept.plaintext).status_code == HTTPStatus.OK


@pytest.mark.django_db
def test_revokeapikey_unknown_prefix_is_a_command_error(user, issue_key):
    issue_key(user)

    with pytest.raises(CommandError):
        run("revokeapikey", "NoSuchPx")


@pytest.mark.django_db
def test_revokeapikey_twice_is_not_an_error_and_says_already_revoked(user, issue_key):
    issued = issue_key(user)
    run("revokeapikey", issued.api_key.prefix)

    stdout, stderr = run("revokeapikey", issued.api_key.prefix)

    assert "already revoked" in (stdout + stderr).lower()


# --- listapikeys ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_listapikeys_prints_a_header_row(user, issue_key):
    issue_key(user)

    stdout, _ = run("listapikeys")

    header, _ = table_rows(stdout)
    assert header == HEADER


@pytest.mark.django_db
def test_listapikeys_prints_one_row_per_key(user, issue_key):
    keys = [issue_key(user, name="one"), issue_key(UserFactory(), name="two")]

    stdout, _ = run("listapikeys")

    _, rows = table_rows(stdout)
    assert len(stdout.splitlines()) == 1 + len(keys)
    assert {prefix: cells[1:3] for prefix, cells in rows.items()} == {
        issued.api_key.prefix: [issued.api_key.name, issued.api_key.owner.username]
        for issued in keys
    }


@pytest.mark.django_db
def test_listapikeys_shows_each_keys_status(user, issue_key, frozen_clock):
    active = issue_key(user)
    revoked = issue_key(user)
    apikey_revoke(api_key=revoked.api_key)
    expired = issue_key(user, expires_at=NOW + timedelta(hours=1))
    frozen_clock.move_to(NOW + timedelta(hours=2), tick=False)

    stdout, _ = run("listapikeys")

    _, rows = table_rows(stdout)
    assert {prefix: cells[-1] for prefix, cells in rows.items()} == {
        active.api_key.prefix: "active",
        revoked.api_key.prefix: "revoked",
        expired.api_key.prefix: "expired",
    }


@pytest.mark.django_db
def test_listapikeys_user_filter_ignores_case(issue_key):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    alices_key = issue_key(alice)
    issue_key(bob)

    stdout, _ = run("listapikeys", "--user", "ALICE")

    _, rows = table_rows(stdout)
    assert list(rows) == [alices_key.api_key.prefix]


@pytest.mark.django_db
def test_listapikeys_unknown_user_is_a_command_error(user, issue_key):
    issue_key(user)

    with pytest.raises(CommandError):
        run("listapikeys", "--user", "nobody")


@pytest.mark.django_db
def test_listapikeys_query_count_does_not_grow_with_the_keys(
    issue_key, django_assert_max_num_queries
):
    issue_key(UserFactory())
    with CaptureQueriesContext(connection) as one_key:
        run("listapikeys")
    for owner in UserFactory.create_batch(19):
        issue_key(owner)

    with django_assert_max_num_queries(len(one_key.captured_queries)):
        stdout, _ = run("listapikeys")

    assert len(stdout.splitlines()) == 1 + 20


@pytest.mark.django_db
def test_listapikeys_never_shows_a_key_plaintext(user, issue_key):
    secrets = [issue_key(user).plaintext.split("_")[2] for _ in range(3)]

    stdout, stderr = run("listapikeys")

    for secret in secrets:
        assert secret not in stdout + stderr


# --- as real processes: exit codes and error output -----------------------------------------


@pytest.fixture(scope="module")
def manage(tmp_path_factory):
    """Runs `manage.py` in a subprocess against a fresh, migrated SQLite file."""
    database = tmp_path_factory.mktemp("commands") / "db.sqlite3"

    def manage(*args: str) -> subprocess.CompletedProcess:
        return run_python(
            ["manage.py", *args], DJANGO_SECRET_KEY="x", DATABASE_URL=f"sqlite:///{database}"
        )

    for setup in (
        ["migrate", "-v0"],
        ["createsuperuser", "--noinput", "--username", "alice", "--email", "a@example.com"],
    ):
        result = manage(*setup)
        assert result.returncode == 0, result.stderr
    return manage


def test_createapikey_process_prints_only_the_key_on_stdout(manage):
    result = manage("createapikey", "alice")

    assert result.returncode == 0, result.stderr
    assert KEY_FORMAT.fullmatch(result.stdout.rstrip("\n"))
    assert result.stderr.strip()


def test_createapikey_process_for_unknown_user_exits_non_zero_with_one_line_error(manage):
    result = manage("createapikey", "nobody")

    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_revokeapikey_process_for_unknown_prefix_exits_non_zero_without_traceback(manage):
    result = manage("revokeapikey", "NoSuchPx")

    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
