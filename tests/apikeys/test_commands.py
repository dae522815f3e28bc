"""The key management commands (docs/api.md, "Commands"): createapikey, revokeapikey and
listapikeys (with a key's own rate limit, docs/api.md, "Rate limiting", and with --usage its
requests of the last 30 days, docs/api.md, "Key usage")."""

import re
import subprocess
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apikeys.keys import KEY_PATTERN
from apikeys.models import APIKey, KeyUsageDay
from apikeys.usage import usage_count
from tests.factories import APIKeyFactory, UserFactory
from tests.kit import get_projects, run_command, secret_of
from tests.processes import migrate_with_superuser, run_python

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


def table_rows(stdout: str) -> tuple[list[str], dict[str, list[str]]]:
    """listapikeys' header cells and its rows' cells by prefix."""
    header, *lines = stdout.splitlines()
    rows = [COLUMN_GAP.split(line.strip()) for line in lines]
    return COLUMN_GAP.split(header.strip()), {cells[0]: cells for cells in rows}


# --- createapikey ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_createapikey_prints_the_key_alone_as_the_last_line_of_stdout(user):
    stdout, _ = run_command("createapikey", user.username)

    *_, last_line = stdout.splitlines()
    assert KEY_PATTERN.fullmatch(last_line)
    assert stdout == f"{last_line}\n"


@pytest.mark.django_db
def test_createapikey_key_works_against_the_api(user):
    stdout, _ = run_command("createapikey", user.username)

    response = get_projects(stdout.splitlines()[-1])

    assert response.status_code == HTTPStatus.OK


@pytest.mark.django_db
def test_createapikey_key_belongs_to_the_named_user(user):
    stdout, _ = run_command("createapikey", user.username)

    prefix = stdout.splitlines()[-1].split("_")[1]
    assert APIKey.objects.get(prefix=prefix).owner == user


@pytest.mark.django_db
def test_createapikey_sends_its_other_messages_to_stderr(user):
    stdout, stderr = run_command("createapikey", user.username)

    assert stderr.strip()
    assert stdout.splitlines()[-1] not in stderr


@pytest.mark.django_db
def test_createapikey_sets_name_and_expiry(user, frozen_clock):
    run_command("createapikey", user.username, "--name", "deploy bot", "--expires-in", "7")

    key = APIKey.objects.get(owner=user)
    assert key.name == "deploy bot"
    assert key.expires_at == NOW + timedelta(days=7)


@pytest.mark.django_db
def test_createapikey_key_never_expires_by_default(user):
    run_command("createapikey", user.username)

    assert APIKey.objects.get(owner=user).expires_at is None


@pytest.mark.django_db
def test_createapikey_matches_the_username_ignoring_case():
    alice = UserFactory(username="Alice")

    run_command("createapikey", "aLICE")

    assert APIKey.objects.get().owner == alice


@pytest.mark.django_db
def test_createapikey_for_unknown_user_is_a_command_error():
    with pytest.raises(CommandError):
        run_command("createapikey", "nobody")


@pytest.mark.django_db
@pytest.mark.parametrize("days", ["abc", "0", "-1", "1.5", ""])
def test_createapikey_refuses_an_invalid_expiry(user, days):
    with pytest.raises(CommandError):
        run_command("createapikey", user.username, "--expires-in", days)

    assert not APIKey.objects.exists()


@pytest.mark.django_db
def test_createapikey_refuses_an_inactive_user():
    inactive = UserFactory(is_active=False)

    with pytest.raises(CommandError):
        run_command("createapikey", inactive.username)

    assert not APIKey.objects.exists()


@pytest.mark.django_db
def test_createapikey_stores_the_rate_limit_given(user):
    run_command("createapikey", user.username, "--rate-limit", "1000/m")

    assert APIKey.objects.get(owner=user).rate_limit == "1000/m"


@pytest.mark.django_db
def test_createapikey_rate_limit_is_the_keys_limit_header(user):
    stdout, _ = run_command("createapikey", user.username, "--rate-limit", "1000/m")

    response = get_projects(stdout.splitlines()[-1])

    assert response.status_code == HTTPStatus.OK
    assert response["X-RateLimit-Limit"] == "1000"


@pytest.mark.django_db
@pytest.mark.parametrize("rate", ["abc", "0/m", "100/"])
def test_createapikey_with_a_bad_rate_limit_is_a_command_error_and_creates_nothing(user, rate):
    with pytest.raises(CommandError, match="--rate-limit"):
        run_command("createapikey", user.username, "--rate-limit", rate)

    assert not APIKey.objects.exists()


# --- revokeapikey ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_revokeapikey_makes_the_key_fail_against_the_api(user):
    api_key = APIKeyFactory(owner=user)

    run_command("revokeapikey", api_key.prefix)

    assert get_projects(api_key.plaintext).status_code == HTTPStatus.UNAUTHORIZED


@pytest.mark.django_db
def test_revokeapikey_leaves_other_keys_working(user):
    revoked, kept = APIKeyFactory(owner=user), APIKeyFactory(owner=user)

    run_command("revokeapikey", revoked.prefix)

    assert get_projects(kept.plaintext).status_code == HTTPStatus.OK


@pytest.mark.django_db
def test_revokeapikey_unknown_prefix_is_a_command_error(user):
    APIKeyFactory(owner=user)

    with pytest.raises(CommandError):
        run_command("revokeapikey", "NoSuchPx")


@pytest.mark.django_db
def test_revokeapikey_twice_is_not_an_error_and_says_already_revoked(user):
    api_key = APIKeyFactory(owner=user)
    run_command("revokeapikey", api_key.prefix)

    stdout, stderr = run_command("revokeapikey", api_key.prefix)

    assert "already revoked" in (stdout + stderr).lower()


# --- listapikeys ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_listapikeys_prints_a_header_row(user):
    APIKeyFactory(owner=user)

    stdout, _ = run_command("listapikeys")

    header, _ = table_rows(stdout)
    assert header == HEADER


@pytest.mark.django_db
def test_listapikeys_prints_one_row_per_key(user):
    keys = [APIKeyFactory(owner=user, name="one"), APIKeyFactory(name="two")]

    stdout, _ = run_command("listapikeys")

    _, rows = table_rows(stdout)
    assert len(stdout.splitlines()) == 1 + len(keys)
    assert {prefix: cells[1:3] for prefix, cells in rows.items()} == {
        api_key.prefix: [api_key.name, api_key.owner.username] for api_key in keys
    }


@pytest.mark.django_db
def test_listapikeys_shows_each_keys_status(user, frozen_clock):
    active = APIKeyFactory(owner=user)
    revoked = APIKeyFactory(owner=user, revoked=True)
    expired = APIKeyFactory(owner=user, expired=True)

    stdout, _ = run_command("listapikeys")

    _, rows = table_rows(stdout)
    assert {prefix: cells[-1] for prefix, cells in rows.items()} == {
        active.prefix: "active",
        revoked.prefix: "revoked",
        expired.prefix: "expired",
    }


@pytest.mark.django_db
def test_listapikeys_shows_a_keys_own_rate_limit_or_default(user):
    own = APIKeyFactory(owner=user, rate_limit="1000/m")
    default = APIKeyFactory(owner=user)

    stdout, _ = run_command("listapikeys")

    _, rows = table_rows(stdout)
    rate_limits = {prefix: cells[HEADER.index("RATE LIMIT")] for prefix, cells in rows.items()}
    assert rate_limits == {own.prefix: "1000/m", default.prefix: "default"}


@pytest.mark.django_db
def test_listapikeys_user_filter_ignores_case():
    alices_key = APIKeyFactory(owner=UserFactory(username="alice"))
    APIKeyFactory(owner=UserFactory(username="bob"))

    stdout, _ = run_command("listapikeys", "--user", "ALICE")

    _, rows = table_rows(stdout)
    assert list(rows) == [alices_key.prefix]


@pytest.mark.django_db
def test_listapikeys_unknown_user_is_a_command_error(user):
    APIKeyFactory(owner=user)

    with pytest.raises(CommandError):
        run_command("listapikeys", "--user", "nobody")


@pytest.mark.django_db
def test_listapikeys_query_count_does_not_grow_with_the_keys(django_assert_max_num_queries):
    APIKeyFactory()
    with CaptureQueriesContext(connection) as one_key:
        run_command("listapikeys")
    APIKeyFactory.create_batch(19)  # each with an owner of its own

    with django_assert_max_num_queries(len(one_key.captured_queries)):
        stdout, _ = run_command("listapikeys")

    assert len(stdout.splitlines()) == 1 + 20


# --- listapikeys --usage ----------------------------------------------------------------------

USAGE_HEADER = "REQUESTS (30D)"


def requests_column(stdout: str) -> dict[str, str]:
    header, rows = table_rows(stdout)
    assert header == [*HEADER, USAGE_HEADER]
    return {prefix: cells[-1] for prefix, cells in rows.items()}


def folded(api_key: APIKey, days_ago: int, requests: int) -> None:
    """The day's requests as `manage.py foldkeyusage` leaves them in the database."""
    KeyUsageDay.objects.create(
        api_key=api_key, date=NOW.date() - timedelta(days=days_ago), requests=requests
    )


def counted_today(api_key: APIKey, requests: int) -> None:
    for _ in range(requests):
        usage_count(prefix=api_key.prefix, field="requests")


@pytest.fixture
def in_process_memory(settings):
    """The development default: no REDIS_URL, the counters in the server process's memory."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


@pytest.mark.django_db
def test_listapikeys_usage_adds_the_requests_of_the_last_30_days(
    user, frozen_clock, in_process_memory
):
    used, unused = APIKeyFactory(owner=user), APIKeyFactory(owner=user)
    folded(used, 0, 5)
    folded(used, 29, 7)
    folded(used, 30, 1000)  # 31 days ago
    folded(unused, 30, 3)

    stdout, _ = run_command("listapikeys", "--usage")

    assert requests_column(stdout) == {used.prefix: "12", unused.prefix: "0"}


@pytest.mark.django_db
def test_listapikeys_without_usage_has_no_usage_column(user):
    APIKeyFactory(owner=user)

    stdout, _ = run_command("listapikeys")

    assert USAGE_HEADER not in stdout


@pytest.mark.django_db
def test_listapikeys_usage_in_process_memory_shows_what_the_database_holds(
    user, frozen_clock, in_process_memory
):
    api_key = APIKeyFactory(owner=user)
    folded(api_key, 1, 4)
    counted_today(api_key, 3)  # in this process's memory: a server's would be out of reach

    stdout, _ = run_command("listapikeys", "--usage")

    assert requests_column(stdout) == {api_key.prefix: "4"}


@pytest.mark.redis
@pytest.mark.django_db
def test_listapikeys_usage_with_redis_adds_what_redis_counts_beyond_the_database(
    user, frozen_clock
):
    api_key, other = APIKeyFactory(owner=user), APIKeyFactory(owner=user)
    folded(api_key, 10, 100)  # long folded, out of Redis
    folded(api_key, 0, 2)  # today, folded an hour ago...
    counted_today(api_key, 5)  # ...and counted on since: 5 in all today
    counted_today(other, 1)  # not folded yet

    stdout, _ = run_command("listapikeys", "--usage")

    assert requests_column(stdout) == {api_key.prefix: "105", other.prefix: "1"}


@pytest.mark.redis
@pytest.mark.django_db
def test_listapikeys_usage_counts_requests_through_the_api(user):
    api_key = APIKeyFactory(owner=user)
    for _ in range(3):
        assert get_projects(api_key.plaintext).status_code == HTTPStatus.OK

    stdout, _ = run_command("listapikeys", "--usage")

    assert requests_column(stdout) == {api_key.prefix: "3"}


@pytest.mark.django_db
def test_listapikeys_usage_makes_the_same_queries_whatever_the_number_of_keys(frozen_clock):
    def queries_listing() -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            stdout, _ = run_command("listapikeys", "--usage")
        assert len(requests_column(stdout)) == APIKey.objects.count()
        return [query["sql"] for query in queries.captured_queries]

    folded(APIKeyFactory(), 0, 1)
    one_key = queries_listing()
    for api_key in APIKeyFactory.create_batch(19):  # each with an owner of its own
        folded(api_key, 0, 1)
        folded(api_key, 1, 1)
    twenty_keys = queries_listing()

    assert len(twenty_keys) == len(one_key)
    assert len([sql for sql in twenty_keys if "apikeys_keyusageday" in sql]) == 1


@pytest.mark.django_db
def test_listapikeys_never_shows_a_key_plaintext(user):
    secrets = [secret_of(APIKeyFactory(owner=user).plaintext) for _ in range(3)]

    stdout, stderr = run_command("listapikeys")

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

    migrate_with_superuser("alice", DJANGO_SECRET_KEY="x", DATABASE_URL=f"sqlite:///{database}")
    return manage


def test_createapikey_process_prints_only_the_key_on_stdout(manage):
    result = manage("createapikey", "alice")

    assert result.returncode == 0, result.stderr
    assert KEY_PATTERN.fullmatch(result.stdout.rstrip("\n"))
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
