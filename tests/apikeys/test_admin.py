"""API keys in admin (contract section 2): issuing through apikey_issue with the plaintext shown
once, in the answer to the add form's POST and nowhere else; the key's page; the list; revoking;
no deleting; and what staff who are not superusers may do."""

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from http import HTTPStatus

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection
from django.http import HttpRequest
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apikeys import admin as apikeys_admin
from apikeys.admin import APIKeyAdmin
from apikeys.models import APIKey
from apikeys.services import IssuedAPIKey, apikey_issue, apikeys_revoke
from tests.factories import UserFactory
from users.models import User

pytestmark = pytest.mark.django_db

KEY_FORMAT = re.compile(r"^ak_[A-Za-z0-9]{8}_[A-Za-z0-9]{49}$")
KEY_IN_TEXT = re.compile(r"ak_[A-Za-z0-9]{8}_[A-Za-z0-9]{49}")
ADD_URL = reverse("admin:apikeys_apikey_add")
CHANGELIST_URL = reverse("admin:apikeys_apikey_changelist")
PROJECTS_API = "/api/v1/projects"
EXPIRY = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
EXPIRY_FIELDS = {"expires_at_0": "2031-05-06", "expires_at_1": "07:08:09"}
NO_EXPIRY_FIELDS = {"expires_at_0": "", "expires_at_1": ""}
LAST_USED = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
EARLIER_REVOCATION = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


# --- Helpers ------------------------------------------------------------------------------------


def change_url(api_key: APIKey) -> str:
    return reverse("admin:apikeys_apikey_change", args=[api_key.pk])


def revoke_url(api_key: APIKey) -> str:
    return reverse("admin:apikeys_apikey_revoke", args=[api_key.pk])


def delete_url(api_key: APIKey) -> str:
    return reverse("admin:apikeys_apikey_delete", args=[api_key.pk])


def add_form(owner: User, **fields: str) -> dict[str, object]:
    return {
        "owner": owner.pk,
        "name": "ci",
        **NO_EXPIRY_FIELDS,
        "rate_limit": "",
        "_save": "Save",
        **fields,
    }


def change_form(api_key: APIKey, **fields: str) -> dict[str, object]:
    return {
        "name": api_key.name,
        **NO_EXPIRY_FIELDS,
        "rate_limit": api_key.rate_limit or "",
        "_save": "Save",
        **fields,
    }


def action_form(*api_keys: APIKey, action: str = "revoke_selected") -> dict[str, object]:
    return {"action": action, "index": "0", "_selected_action": [key.pk for key in api_keys]}


def staff_with(*codenames: str, **fields: object) -> User:
    """A staff user (not a superuser) holding these apikeys permissions and no other."""
    user = UserFactory(staff=True, **fields)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="apikeys", codename__in=codenames)
    )
    return user


def logged_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def api_status(plaintext: str) -> int:
    """The API's status for GET /api/v1/projects with this key, from a client with no session."""
    return Client().get(PROJECTS_API, HTTP_AUTHORIZATION=f"Bearer {plaintext}").status_code


def secret_of(plaintext: str) -> str:
    """The part of a key that must never be kept anywhere: everything after the prefix."""
    return plaintext.split("_")[2]


def plaintext_in(response) -> str:
    match = KEY_IN_TEXT.search(response.content.decode())
    assert match, "the response shows no key"
    return match.group()


class _ChangeListTable(HTMLParser):
    """The changelist's column headers ({column: header text}) and rows ([{field: text}])."""

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


def changelist_table(response) -> _ChangeListTable:
    table = _ChangeListTable()
    table.feed(response.content.decode())
    return table


def rows_by_prefix(response) -> dict[str, dict[str, str]]:
    return {row["prefix"]: row for row in changelist_table(response).rows}


READ_ONLY_FIELD = re.compile(
    r'<div class="form-row field-(\w+)">(?:(?!form-row).)*?<div class="readonly">(.*?)</div>',
    re.DOTALL,
)


def read_only_values(response) -> dict[str, str]:
    """The change page's read-only fields: {field: text shown}."""
    return {
        field: re.sub(r"<[^>]+>", "", html).strip()
        for field, html in READ_ONLY_FIELD.findall(response.content.decode())
    }


def listed_prefixes(response) -> set[str]:
    return {api_key.prefix for api_key in response.context["cl"].result_list}


def messages_of(response) -> list[str]:
    """The messages the request queued or read (a followed redirect's page shows them)."""
    return [str(message) for message in get_messages(response.wsgi_request)]


def count_statements(queries: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in queries.captured_queries if "COUNT(" in query["sql"].upper()]


def revoked_log_entries() -> list[LogEntry]:
    return list(LogEntry.objects.filter(action_flag=CHANGE, change_message="Revoked."))


# --- Fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def superuser(db: None) -> User:
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def superuser_client(client: Client, superuser: User) -> Client:
    return logged_in(client, superuser)


@pytest.fixture
def owner(db: None) -> User:
    return UserFactory(username="alice")


@pytest.fixture
def issued(owner: User) -> IssuedAPIKey:
    return apikey_issue(owner=owner, name="deploy")


@pytest.fixture
def api_key(issued: IssuedAPIKey) -> APIKey:
    return issued.api_key


@pytest.fixture
def revoked_key(owner: User) -> APIKey:
    api_key = apikey_issue(owner=owner, name="old").api_key
    APIKey.objects.filter(pk=api_key.pk).update(revoked_at=EARLIER_REVOCATION)
    api_key.refresh_from_db()
    return api_key


@dataclass
class IssuedInAdmin:
    response: object
    plaintext: str
    api_key: APIKey


@pytest.fixture
def issued_in_admin(superuser_client: Client, owner: User) -> IssuedInAdmin:
    """A key issued through the add form by the superuser."""
    response = superuser_client.post(ADD_URL, add_form(owner, name="from admin"))
    plaintext = plaintext_in(response)
    api_key = APIKey.objects.get(prefix=plaintext.split("_")[1])
    return IssuedInAdmin(response=response, plaintext=plaintext, api_key=api_key)


@pytest.fixture
def view_only_client(client: Client) -> Client:
    return logged_in(client, staff_with("view_apikey"))


# --- The add form -------------------------------------------------------------------------------


def test_add_form_has_owner_name_expiry_and_rate_limit_fields(superuser_client):
    response = superuser_client.get(ADD_URL)

    assert response.status_code == HTTPStatus.OK
    assert list(response.context["adminform"].form.fields) == [
        "owner",
        "name",
        "expires_at",
        "rate_limit",
    ]
    content = response.content.decode()
    for name in ["owner", "name", "expires_at_0", "expires_at_1", "rate_limit"]:
        assert f'name="{name}"' in content, name


def test_add_form_has_no_digest_or_prefix_input(superuser_client):
    content = superuser_client.get(ADD_URL).content.decode()

    assert 'name="digest"' not in content
    assert 'name="prefix"' not in content
    assert "field-digest" not in content
    assert "field-prefix" not in content


def test_add_form_offers_neither_save_and_add_another_nor_save_and_continue(superuser_client):
    content = superuser_client.get(ADD_URL).content.decode()

    assert 'name="_save"' in content
    assert 'name="_addanother"' not in content
    assert 'name="_continue"' not in content


# --- Issuing: the answer to the POST itself ----------------------------------------------------


def test_add_post_answers_200_itself_not_a_redirect(superuser_client, owner):
    response = superuser_client.post(ADD_URL, add_form(owner))

    assert response.status_code == HTTPStatus.OK
    assert "Location" not in response


def test_add_post_shows_the_plaintext_key_in_the_documented_format(issued_in_admin):
    assert KEY_FORMAT.fullmatch(issued_in_admin.plaintext)
    assert issued_in_admin.plaintext in issued_in_admin.response.content.decode()


def test_add_post_shows_the_key_of_the_issued_row(issued_in_admin, owner):
    assert issued_in_admin.api_key.owner == owner
    assert issued_in_admin.api_key.name == "from admin"
    assert APIKey.objects.count() == 1


def test_add_post_answer_is_sent_with_cache_control_no_store(issued_in_admin):
    assert "no-store" in issued_in_admin.response["Cache-Control"]


def test_add_post_answer_says_to_copy_the_key_now(issued_in_admin):
    content = issued_in_admin.response.content.decode()

    assert "Copy this key now" in content
    assert "will not be shown again" in content


def test_add_post_issues_through_apikey_issue(superuser_client, superuser, owner, monkeypatch):
    calls = []

    def spy(**kwargs: object) -> IssuedAPIKey:
        calls.append(kwargs)
        return apikey_issue(**kwargs)

    monkeypatch.setattr(apikeys_admin, "apikey_issue", spy)

    response = superuser_client.post(
        ADD_URL, add_form(owner, name="spied", rate_limit="250/m", **EXPIRY_FIELDS)
    )

    assert response.status_code == HTTPStatus.OK
    assert calls == [
        {
            "owner": owner,
            "name": "spied",
            "expires_at": EXPIRY,
            "rate_limit": "250/m",
            "actor": superuser,
        }
    ]


def test_issued_key_stores_the_sha256_digest_of_the_plaintext(issued_in_admin):
    expected = hashlib.sha256(issued_in_admin.plaintext.encode()).hexdigest()

    assert issued_in_admin.api_key.digest == expected


def test_issued_key_works_against_the_api(issued_in_admin):
    assert api_status(issued_in_admin.plaintext) == HTTPStatus.OK


def test_issued_key_has_the_submitted_expiry_and_rate_limit(superuser_client, owner):
    response = superuser_client.post(ADD_URL, add_form(owner, rate_limit="250/m", **EXPIRY_FIELDS))

    api_key = APIKey.objects.get(prefix=plaintext_in(response).split("_")[1])
    assert (api_key.expires_at, api_key.rate_limit) == (EXPIRY, "250/m")


def test_issued_key_without_a_rate_limit_has_none(issued_in_admin):
    assert issued_in_admin.api_key.rate_limit is None
    assert issued_in_admin.api_key.expires_at is None


def test_add_post_with_a_bad_rate_limit_is_a_form_error_and_issues_nothing(superuser_client, owner):
    response = superuser_client.post(ADD_URL, add_form(owner, rate_limit="100/"))

    assert response.status_code == HTTPStatus.OK
    assert "rate_limit" in response.context["adminform"].form.errors
    assert KEY_IN_TEXT.search(response.content.decode()) is None
    assert not APIKey.objects.exists()


def test_add_post_for_an_inactive_owner_is_a_form_error_and_issues_nothing(superuser_client):
    inactive = UserFactory(username="gone", is_active=False)

    response = superuser_client.post(ADD_URL, add_form(inactive))

    assert response.status_code == HTTPStatus.OK
    owner_errors = response.context["adminform"].form.errors.get("owner", [])
    assert any("inactive" in error for error in owner_errors), owner_errors
    assert KEY_IN_TEXT.search(response.content.decode()) is None
    assert not APIKey.objects.exists()


def test_add_post_asking_to_add_another_still_answers_with_the_key(superuser_client, owner):
    response = superuser_client.post(ADD_URL, {**add_form(owner), "_addanother": "1"})

    assert response.status_code == HTTPStatus.OK
    assert KEY_FORMAT.fullmatch(plaintext_in(response))


def test_add_post_asking_to_continue_still_answers_with_the_key(superuser_client, owner):
    response = superuser_client.post(ADD_URL, {**add_form(owner), "_continue": "1"})

    assert response.status_code == HTTPStatus.OK
    assert KEY_FORMAT.fullmatch(plaintext_in(response))


# --- The plaintext is never shown or kept again ----------------------------------------------


def test_plaintext_is_not_on_the_change_page(superuser_client, issued_in_admin):
    response = superuser_client.get(change_url(issued_in_admin.api_key))

    assert response.status_code == HTTPStatus.OK
    assert secret_of(issued_in_admin.plaintext) not in response.content.decode()


def test_plaintext_is_not_on_the_changelist(superuser_client, issued_in_admin):
    response = superuser_client.get(CHANGELIST_URL)

    assert response.status_code == HTTPStatus.OK
    assert issued_in_admin.api_key.prefix in response.content.decode()
    assert secret_of(issued_in_admin.plaintext) not in response.content.decode()


def test_plaintext_is_not_in_the_clients_session(superuser_client, issued_in_admin):
    secret = secret_of(issued_in_admin.plaintext)

    for key, value in superuser_client.session.items():
        assert secret not in str(key)
        assert secret not in str(value), key


def test_plaintext_is_not_in_any_stored_session(issued_in_admin):
    secret = secret_of(issued_in_admin.plaintext)

    sessions = list(Session.objects.all())
    assert sessions
    for session in sessions:
        assert secret not in str(session.get_decoded())
        assert secret not in session.session_data


def test_plaintext_is_not_in_any_cookie(superuser_client, issued_in_admin):
    secret = secret_of(issued_in_admin.plaintext)

    for jar in [issued_in_admin.response.cookies, superuser_client.cookies]:
        for name, morsel in jar.items():
            assert secret not in morsel.value, name
            if name == "messages":
                decoded = CookieStorage(HttpRequest())._decode(morsel.value)
                assert secret not in str([str(message) for message in decoded or []])


def test_plaintext_is_not_in_the_messages_shown_next(superuser_client, issued_in_admin):
    response = superuser_client.get(reverse("admin:index"))

    assert secret_of(issued_in_admin.plaintext) not in response.content.decode()
    assert all(
        secret_of(issued_in_admin.plaintext) not in str(message)
        for message in response.context["messages"]
    )


def test_plaintext_is_not_in_the_admin_log(issued_in_admin):
    secret = secret_of(issued_in_admin.plaintext)

    entries = list(LogEntry.objects.values())
    assert [entry["action_flag"] for entry in entries] == [ADDITION]
    assert issued_in_admin.api_key.prefix in entries[0]["object_repr"]
    for entry in entries:
        for column, value in entry.items():
            assert secret not in str(value), column


def test_plaintext_is_in_no_sql_statement_of_the_add_post(superuser_client, owner):
    with CaptureQueriesContext(connection) as queries:
        response = superuser_client.post(ADD_URL, add_form(owner))

    secret = secret_of(plaintext_in(response))
    assert queries.captured_queries
    for query in queries.captured_queries:
        assert secret not in query["sql"]


def cached_items() -> list[tuple[bytes, bytes]]:
    """Every key and raw value in the cache, whichever backend it is."""
    cache = caches["default"]
    if isinstance(cache, LocMemCache):
        return [(key.encode(), pickled) for key, pickled in cache._cache.items()]
    client = cache.client.get_client()  # django-redis: the tests own this Redis database
    return [(key, client.dump(key) or b"") for key in client.scan_iter("*")]


def test_plaintext_is_not_in_the_cache(superuser_client, issued_in_admin):
    secret = secret_of(issued_in_admin.plaintext).encode()
    superuser_client.get(
        "/api/v1/projects", HTTP_AUTHORIZATION=f"Bearer {issued_in_admin.plaintext}"
    )
    items = cached_items()

    assert items, "nothing is cached: the rate-limit counters should be there"
    for key, value in items:
        assert secret not in key
        assert secret not in value


def assert_not_logged(secret: str, caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records, "nothing was logged: the capture is not working"
    leaking = {
        record.name
        for record in caplog.records
        if secret in record.getMessage() or secret in str(record.__dict__)
    }
    assert leaking == set(), "these loggers logged the plaintext"
    assert secret not in caplog.text


def test_plaintext_is_not_logged_even_with_every_logger_at_debug(superuser_client, owner, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")

    # Capturing queries makes Django log every SQL statement at DEBUG too.
    with CaptureQueriesContext(connection):
        response = superuser_client.post(ADD_URL, add_form(owner))

    assert_not_logged(secret_of(plaintext_in(response)), caplog)


# --- The change page ----------------------------------------------------------------------------


def test_change_page_shows_the_prefix_read_only(superuser_client, api_key):
    response = superuser_client.get(change_url(api_key))

    assert read_only_values(response)["prefix"] == api_key.prefix
    assert 'name="prefix"' not in response.content.decode()


def test_change_page_never_shows_the_digest(superuser_client, api_key):
    content = superuser_client.get(change_url(api_key)).content.decode()

    assert api_key.digest not in content
    assert 'name="digest"' not in content
    assert "field-digest" not in content


def test_change_page_edits_name_expiry_and_rate_limit(superuser_client, api_key):
    response = superuser_client.post(
        change_url(api_key),
        change_form(api_key, name="renamed", rate_limit="250/m", **EXPIRY_FIELDS),
    )

    assert response.status_code == HTTPStatus.FOUND
    api_key.refresh_from_db()
    assert (api_key.name, api_key.expires_at, api_key.rate_limit) == (
        "renamed",
        EXPIRY,
        "250/m",
    )


def test_change_page_clears_the_rate_limit_to_the_default(superuser_client, owner):
    api_key = apikey_issue(owner=owner, rate_limit="250/m").api_key

    response = superuser_client.post(change_url(api_key), change_form(api_key, rate_limit=""))

    assert response.status_code == HTTPStatus.FOUND
    api_key.refresh_from_db()
    assert api_key.rate_limit is None


def test_change_with_a_bad_rate_limit_is_a_form_error_and_saves_nothing(superuser_client, api_key):
    response = superuser_client.post(
        change_url(api_key), change_form(api_key, name="renamed", rate_limit="100/")
    )

    assert response.status_code == HTTPStatus.OK
    assert "rate_limit" in response.context["adminform"].form.errors
    api_key.refresh_from_db()
    assert (api_key.name, api_key.rate_limit) == ("deploy", None)


@pytest.mark.parametrize("rate", ["0/m", "1000001/m", "5/s", "abc"])
def test_change_refuses_a_rate_limit_outside_1_to_1000000_per_minute(
    superuser_client, api_key, rate
):
    response = superuser_client.post(change_url(api_key), change_form(api_key, rate_limit=rate))

    assert response.status_code == HTTPStatus.OK
    assert "rate_limit" in response.context["adminform"].form.errors
    api_key.refresh_from_db()
    assert api_key.rate_limit is None


def test_change_cannot_move_a_key_to_another_owner(superuser_client, api_key):
    other = UserFactory()

    superuser_client.post(change_url(api_key), {**change_form(api_key), "owner": other.pk})

    api_key.refresh_from_db()
    assert api_key.owner.username == "alice"


def test_change_post_leaves_a_key_revoked_between_get_and_post_revoked(
    superuser_client, superuser, api_key
):
    superuser_client.get(change_url(api_key))
    APIKey.objects.filter(pk=api_key.pk).update(revoked_at=EARLIER_REVOCATION, revoked_by=superuser)

    superuser_client.post(change_url(api_key), change_form(api_key, name="renamed"))

    api_key.refresh_from_db()
    assert (api_key.revoked_at, api_key.revoked_by) == (EARLIER_REVOCATION, superuser)


def test_change_post_keeps_a_revocation_written_while_it_saves(
    superuser_client, superuser, api_key, monkeypatch
):
    original_save_model = APIKeyAdmin.save_model

    def save_model(self, request, obj, form, change):
        # Another request revokes the key after this one loaded it and checked permissions.
        APIKey.objects.filter(pk=obj.pk).update(revoked_at=EARLIER_REVOCATION, revoked_by=superuser)
        original_save_model(self, request, obj, form, change)

    monkeypatch.setattr(APIKeyAdmin, "save_model", save_model)

    superuser_client.post(change_url(api_key), change_form(api_key, name="renamed"))

    api_key.refresh_from_db()
    assert (api_key.revoked_at, api_key.revoked_by) == (EARLIER_REVOCATION, superuser)
    assert api_key.name == "deploy"


@pytest.fixture
def revoked_while_saving(superuser: User, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another request revokes the key after a change POST loaded it and checked permissions."""
    original_save_model = APIKeyAdmin.save_model

    def save_model(self, request, obj, form, change):
        APIKey.objects.filter(pk=obj.pk).update(revoked_at=EARLIER_REVOCATION, revoked_by=superuser)
        original_save_model(self, request, obj, form, change)

    monkeypatch.setattr(APIKeyAdmin, "save_model", save_model)


@pytest.fixture
def configured_key(owner: User) -> APIKey:
    """An active key with a name, an expiry and a rate limit of its own."""
    return apikey_issue(owner=owner, name="deploy", expires_at=EXPIRY, rate_limit="250/m").api_key


def test_change_post_on_a_key_revoked_while_it_saves_changes_nothing(
    superuser_client, superuser, configured_key, revoked_while_saving
):
    superuser_client.post(
        change_url(configured_key),
        change_form(
            configured_key,
            name="renamed",
            rate_limit="500/m",
            expires_at_0="2032-01-01",
            expires_at_1="00:00:00",
        ),
    )

    configured_key.refresh_from_db()
    assert (configured_key.name, configured_key.expires_at, configured_key.rate_limit) == (
        "deploy",
        EXPIRY,
        "250/m",
    )
    assert (configured_key.revoked_at, configured_key.revoked_by) == (
        EARLIER_REVOCATION,
        superuser,
    )


def test_change_post_on_a_key_revoked_while_it_saves_redirects_saying_nothing_changed(
    superuser_client, api_key, revoked_while_saving
):
    response = superuser_client.post(change_url(api_key), change_form(api_key, name="renamed"))

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == change_url(api_key)
    shown = messages_of(superuser_client.get(response["Location"]))
    assert shown == [f"Key {api_key.prefix} was revoked meanwhile: nothing was changed."]


def test_change_post_on_a_key_revoked_while_it_saves_logs_no_change(
    superuser_client, api_key, revoked_while_saving
):
    superuser_client.post(change_url(api_key), change_form(api_key, name="renamed"))

    # The admin log must not record a change that was not made.
    assert list(LogEntry.objects.filter(action_flag=CHANGE).values("change_message")) == []


def test_change_post_keeps_last_used_at_written_between_get_and_post(superuser_client, api_key):
    superuser_client.get(change_url(api_key))
    APIKey.objects.filter(pk=api_key.pk).update(last_used_at=LAST_USED)

    response = superuser_client.post(change_url(api_key), change_form(api_key, name="renamed"))

    assert response.status_code == HTTPStatus.FOUND
    api_key.refresh_from_db()
    assert (api_key.name, api_key.last_used_at) == ("renamed", LAST_USED)


def test_change_post_keeps_last_used_at_written_while_it_saves(
    superuser_client, api_key, monkeypatch
):
    original_save_model = APIKeyAdmin.save_model

    def save_model(self, request, obj, form, change):
        # The key is used against the API after this request loaded it.
        APIKey.objects.filter(pk=obj.pk).update(last_used_at=LAST_USED)
        original_save_model(self, request, obj, form, change)

    monkeypatch.setattr(APIKeyAdmin, "save_model", save_model)

    response = superuser_client.post(change_url(api_key), change_form(api_key, name="renamed"))

    assert response.status_code == HTTPStatus.FOUND
    api_key.refresh_from_db()
    assert (api_key.name, api_key.last_used_at) == ("renamed", LAST_USED)


# --- The changelist -----------------------------------------------------------------------------


def test_changelist_shows_the_documented_columns(superuser_client, api_key):
    response = superuser_client.get(CHANGELIST_URL)

    assert response.status_code == HTTPStatus.OK
    # Status beside the prefix; the creation date is on the key's page (the list is newest
    # first), so every column fits at 1280 px (tests/browser/test_admin_as_staff.py).
    assert list(changelist_table(response).headers.values()) == [
        "Prefix",
        "Status",
        "Owner",
        "Name",
        "Expires at",
        "Last used at",
        "Rate limit",
    ]


def test_changelist_row_shows_prefix_name_and_owner(superuser_client, api_key):
    row = rows_by_prefix(superuser_client.get(CHANGELIST_URL))[api_key.prefix]

    assert (row["name"], row["owner"], row["status"]) == ("deploy", "alice", "active")


def test_changelist_row_shows_last_used_and_expiry(superuser_client, owner):
    api_key = apikey_issue(owner=owner, expires_at=EXPIRY).api_key
    APIKey.objects.filter(pk=api_key.pk).update(last_used_at=LAST_USED)
    unused = apikey_issue(owner=owner).api_key

    rows = rows_by_prefix(superuser_client.get(CHANGELIST_URL))

    assert "2030" in rows[api_key.prefix]["last_used_at"]
    assert "2031" in rows[api_key.prefix]["expires_at"]
    assert rows[unused.prefix]["last_used_at"] == "-"
    assert rows[unused.prefix]["expires_at"] == "-"


def test_changelist_shows_default_or_the_keys_own_rate_limit(superuser_client, owner):
    default = apikey_issue(owner=owner).api_key
    own = apikey_issue(owner=owner, rate_limit="250/m").api_key

    rows = rows_by_prefix(superuser_client.get(CHANGELIST_URL))

    assert rows[default.prefix]["rate_limit_display"] == "default"
    assert rows[own.prefix]["rate_limit_display"] == "250/m"


@pytest.fixture
def keys_by_status(owner: User) -> dict[str, APIKey]:
    now = timezone.now()
    keys = {
        "active": apikey_issue(owner=owner, name="a").api_key,
        "active until later": apikey_issue(
            owner=owner, name="b", expires_at=now + timedelta(days=1)
        ).api_key,
        "expired": apikey_issue(owner=owner, name="c", expires_at=now - timedelta(days=1)).api_key,
        "revoked": apikey_issue(owner=owner, name="d").api_key,
        "revoked and expired": apikey_issue(
            owner=owner, name="e", expires_at=now - timedelta(days=1)
        ).api_key,
    }
    APIKey.objects.filter(pk__in=[keys["revoked"].pk, keys["revoked and expired"].pk]).update(
        revoked_at=EARLIER_REVOCATION
    )
    return keys


def test_changelist_shows_each_keys_status(superuser_client, keys_by_status):
    rows = rows_by_prefix(superuser_client.get(CHANGELIST_URL))

    statuses = {name: rows[key.prefix]["status"] for name, key in keys_by_status.items()}
    assert statuses == {
        "active": "active",
        "active until later": "active",
        "expired": "expired",
        "revoked": "revoked",
        "revoked and expired": "revoked",
    }


def test_changelist_offers_a_status_filter(superuser_client, api_key):
    content = superuser_client.get(CHANGELIST_URL).content.decode()

    for status in ["active", "revoked", "expired"]:
        assert f'href="?status={status}"' in content, status


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("active", {"active", "active until later"}),
        ("revoked", {"revoked", "revoked and expired"}),
        ("expired", {"expired"}),
    ],
)
def test_status_filter_lists_only_keys_with_that_status(
    superuser_client, keys_by_status, status, expected
):
    response = superuser_client.get(CHANGELIST_URL, {"status": status})

    assert response.status_code == HTTPStatus.OK
    assert listed_prefixes(response) == {keys_by_status[name].prefix for name in expected}
    assert {row["status"] for row in changelist_table(response).rows} == {status}


def test_search_by_exact_prefix_finds_that_key(superuser_client, owner):
    wanted, other = apikey_issue(owner=owner).api_key, apikey_issue(owner=owner).api_key

    response = superuser_client.get(CHANGELIST_URL, {"q": wanted.prefix})

    assert listed_prefixes(response) == {wanted.prefix}
    assert other.prefix not in response.content.decode()


def test_search_by_owner_username_prefix_finds_their_keys(superuser_client, owner):
    alices = {apikey_issue(owner=owner).api_key.prefix for _ in range(2)}
    apikey_issue(owner=UserFactory(username="bob"))

    response = superuser_client.get(CHANGELIST_URL, {"q": "ali"})

    assert listed_prefixes(response) == alices


def test_changelist_query_count_does_not_grow_with_keys(
    superuser_client, django_assert_max_num_queries
):
    for _ in range(3):
        apikey_issue(owner=UserFactory())
    superuser_client.get(CHANGELIST_URL)  # warm up caches that live past one request
    with CaptureQueriesContext(connection) as few:
        assert len(superuser_client.get(CHANGELIST_URL).context["cl"].result_list) == 3
    for _ in range(27):
        apikey_issue(owner=UserFactory())

    with django_assert_max_num_queries(len(few)):
        response = superuser_client.get(CHANGELIST_URL)

    assert len(changelist_table(response).rows) == 30


def test_searched_changelist_runs_one_count_not_a_second_over_the_whole_table(
    superuser_client, owner, api_key
):
    apikey_issue(owner=UserFactory(username="bob"))

    with CaptureQueriesContext(connection) as queries:
        response = superuser_client.get(CHANGELIST_URL, {"q": api_key.prefix})

    assert listed_prefixes(response) == {api_key.prefix}
    # The paginator's count of the matching keys; a full-result count would be a second.
    assert len(count_statements(queries)) == 1, count_statements(queries)
    assert response.context["cl"].result_count == 1


def test_changelist_lists_newest_first(superuser_client, owner):
    keys = {name: apikey_issue(owner=owner, name=name).api_key for name in ["mid", "old", "new"]}
    for name, day in [("mid", 2), ("old", 1), ("new", 3)]:
        APIKey.objects.filter(pk=keys[name].pk).update(
            created_at=datetime(2024, 1, day, tzinfo=UTC)
        )

    response = superuser_client.get(CHANGELIST_URL)

    assert [key.name for key in response.context["cl"].result_list] == ["new", "mid", "old"]


def test_changelist_lists_keys_created_together_by_newest_id_first(superuser_client, owner):
    first, second = (apikey_issue(owner=owner, name=name).api_key for name in ["first", "second"])
    APIKey.objects.filter(pk__in=[first.pk, second.pk]).update(
        created_at=datetime(2024, 1, 1, tzinfo=UTC)
    )
    assert second.pk > first.pk

    response = superuser_client.get(CHANGELIST_URL)

    assert [key.name for key in response.context["cl"].result_list] == ["second", "first"]


# --- The revoke action --------------------------------------------------------------------------


def test_revoke_action_revokes_the_selected_keys_by_the_staff_user(
    superuser_client, superuser, owner
):
    first, second = apikey_issue(owner=owner).api_key, apikey_issue(owner=owner).api_key

    response = superuser_client.post(CHANGELIST_URL, action_form(first, second))

    assert response.status_code == HTTPStatus.FOUND
    for api_key in (first, second):
        api_key.refresh_from_db()
        assert api_key.revoked_at is not None
        assert api_key.revoked_by == superuser


def test_revoke_action_leaves_unselected_keys_active(superuser_client, owner):
    selected, unselected = apikey_issue(owner=owner).api_key, apikey_issue(owner=owner).api_key

    superuser_client.post(CHANGELIST_URL, action_form(selected))

    unselected.refresh_from_db()
    assert unselected.revoked_at is None


def test_revoke_action_leaves_already_revoked_keys_unchanged(
    superuser_client, api_key, revoked_key
):
    superuser_client.post(CHANGELIST_URL, action_form(api_key, revoked_key))

    revoked_key.refresh_from_db()
    assert (revoked_key.revoked_at, revoked_key.revoked_by) == (EARLIER_REVOCATION, None)


def test_revoke_action_reports_how_many_keys_it_revoked(superuser_client, api_key, revoked_key):
    response = superuser_client.post(CHANGELIST_URL, action_form(api_key, revoked_key), follow=True)

    assert "Revoked 1 of the 2 selected keys. 1 were revoked already." in (
        response.content.decode()
    )


def test_revoke_action_logs_one_revoked_entry_per_key_it_revoked(
    superuser_client, superuser, owner, revoked_key
):
    first, second = apikey_issue(owner=owner).api_key, apikey_issue(owner=owner).api_key

    superuser_client.post(CHANGELIST_URL, action_form(first, second, revoked_key))

    entries = revoked_log_entries()
    assert sorted(entry.object_id for entry in entries) == sorted([str(first.pk), str(second.pk)])
    for entry in entries:
        assert entry.user == superuser
        assert entry.content_type.model_class() is APIKey


def test_revoke_action_logs_nothing_for_keys_revoked_already(superuser_client, revoked_key):
    superuser_client.post(CHANGELIST_URL, action_form(revoked_key))

    assert LogEntry.objects.filter(action_flag=CHANGE).count() == 0


def test_revoke_action_logs_nothing_for_a_key_the_same_user_revoked_meanwhile(
    superuser_client, superuser, api_key, monkeypatch
):
    def revoked_by_a_double_submit_first(*, api_keys, revoked_by):
        # The same user's other request (a double-clicked "Go") revokes the key after this
        # one found it active and before its UPDATE: this request revokes nothing.
        APIKey.objects.filter(pk=api_key.pk).update(
            revoked_at=EARLIER_REVOCATION, revoked_by=superuser
        )
        return apikeys_revoke(api_keys=api_keys, revoked_by=revoked_by)

    monkeypatch.setattr(apikeys_admin, "apikeys_revoke", revoked_by_a_double_submit_first)

    response = superuser_client.post(CHANGELIST_URL, action_form(api_key), follow=True)

    assert "Revoked 0 of the 1 selected keys." in response.content.decode()
    assert revoked_log_entries() == []


def test_changelist_offers_the_revoke_selected_keys_action(superuser_client, api_key):
    content = superuser_client.get(CHANGELIST_URL).content.decode()

    assert 'value="revoke_selected"' in content
    assert "Revoke selected keys" in content


def test_key_revoked_by_the_action_gets_401_from_the_api(superuser_client, issued):
    assert api_status(issued.plaintext) == HTTPStatus.OK

    superuser_client.post(CHANGELIST_URL, action_form(issued.api_key))

    assert api_status(issued.plaintext) == HTTPStatus.UNAUTHORIZED


# --- The revoke button --------------------------------------------------------------------------


def test_change_page_of_an_active_key_links_to_revoke(superuser_client, api_key):
    content = superuser_client.get(change_url(api_key)).content.decode()

    assert f'href="{revoke_url(api_key)}"' in content


def test_revoke_get_shows_a_confirmation_and_revokes_nothing(superuser_client, api_key):
    response = superuser_client.get(revoke_url(api_key))

    assert response.status_code == HTTPStatus.OK
    content = response.content.decode()
    assert f"Revoke key <strong>{api_key.prefix}</strong>" in content
    assert 'method="post"' in content
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


def test_revoke_post_revokes_by_the_staff_user_and_redirects_to_the_change_page(
    superuser_client, superuser, api_key
):
    response = superuser_client.post(revoke_url(api_key))

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == change_url(api_key)
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert api_key.revoked_by == superuser


def test_revoke_post_says_the_key_no_longer_works(superuser_client, api_key):
    response = superuser_client.post(revoke_url(api_key), follow=True)

    assert f"Key {api_key.prefix} is revoked: it no longer works." in response.content.decode()


def test_key_revoked_by_the_button_gets_401_from_the_api(superuser_client, issued):
    assert api_status(issued.plaintext) == HTTPStatus.OK

    superuser_client.post(revoke_url(issued.api_key))

    assert api_status(issued.plaintext) == HTTPStatus.UNAUTHORIZED


def test_revoke_post_on_a_revoked_key_keeps_the_first_revocation(superuser_client, revoked_key):
    response = superuser_client.post(revoke_url(revoked_key))

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == change_url(revoked_key)
    revoked_key.refresh_from_db()
    assert (revoked_key.revoked_at, revoked_key.revoked_by) == (EARLIER_REVOCATION, None)


def test_revoke_post_logs_one_revoked_entry(superuser_client, superuser, api_key):
    superuser_client.post(revoke_url(api_key))

    [entry] = revoked_log_entries()
    assert (entry.object_id, entry.user) == (str(api_key.pk), superuser)


@pytest.mark.parametrize("method", ["get", "post"])
def test_revoke_url_of_a_revoked_key_redirects_saying_revoked_already(client, revoked_key, method):
    logged_in(client, staff_with("view_apikey", "change_apikey"))

    response = getattr(client, method)(revoke_url(revoked_key))

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == change_url(revoked_key)
    assert messages_of(response) == [f"Key {revoked_key.prefix} is revoked already."]
    assert revoked_log_entries() == []


def test_revoke_post_on_a_key_revoked_meanwhile_says_revoked_already_and_logs_nothing(
    superuser_client, api_key, monkeypatch
):
    def revoked_by_another_request_first(*, api_key, revoked_by):
        # Another request revokes the key after this one loaded it and found it active.
        APIKey.objects.filter(pk=api_key.pk).update(revoked_at=EARLIER_REVOCATION)
        return False

    monkeypatch.setattr(apikeys_admin, "apikey_revoke", revoked_by_another_request_first)

    response = superuser_client.post(revoke_url(api_key))

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == change_url(api_key)
    assert messages_of(response) == [f"Key {api_key.prefix} is revoked already."]
    assert revoked_log_entries() == []
    api_key.refresh_from_db()
    assert (api_key.revoked_at, api_key.revoked_by) == (EARLIER_REVOCATION, None)


# --- A revoked key's page is read-only --------------------------------------------------------


def test_revoked_key_page_has_no_save_buttons(superuser_client, revoked_key):
    response = superuser_client.get(change_url(revoked_key))

    assert response.status_code == HTTPStatus.OK
    content = response.content.decode()
    assert 'name="_save"' not in content
    assert 'name="_continue"' not in content
    assert 'name="rate_limit"' not in content


def test_revoked_key_page_refuses_a_change_post_with_403(superuser_client, revoked_key):
    response = superuser_client.post(
        change_url(revoked_key), change_form(revoked_key, name="renamed", rate_limit="250/m")
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    revoked_key.refresh_from_db()
    assert (revoked_key.name, revoked_key.rate_limit) == ("old", None)


def test_revoked_key_page_has_no_revoke_link(superuser_client, revoked_key):
    content = superuser_client.get(change_url(revoked_key)).content.decode()

    assert revoke_url(revoked_key) not in content
    assert "Revoke this key" not in content


def test_revoked_key_page_shows_status_when_and_by_whom(superuser_client, api_key):
    superuser_client.post(revoke_url(api_key))

    shown = read_only_values(superuser_client.get(change_url(api_key)))

    assert (shown["status"], shown["revoked_by"]) == ("revoked", "root")
    assert shown["revoked_at"] not in ("", "-")


# --- No deleting --------------------------------------------------------------------------------


def test_delete_view_is_refused_with_403(superuser_client, api_key):
    assert superuser_client.get(delete_url(api_key)).status_code == HTTPStatus.FORBIDDEN


def test_delete_post_is_refused_and_the_key_stays(superuser_client, api_key):
    response = superuser_client.post(delete_url(api_key), {"post": "yes"})

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert APIKey.objects.filter(pk=api_key.pk).exists()


def test_changelist_offers_no_delete_selected_action(superuser_client, api_key):
    response = superuser_client.get(CHANGELIST_URL)

    assert "delete_selected" not in response.content.decode()


def test_delete_selected_action_post_deletes_nothing(superuser_client, api_key):
    superuser_client.post(
        CHANGELIST_URL, {**action_form(api_key, action="delete_selected"), "post": "yes"}
    )

    assert APIKey.objects.filter(pk=api_key.pk).exists()


def test_change_page_has_no_delete_link(superuser_client, api_key):
    content = superuser_client.get(change_url(api_key)).content.decode()

    assert delete_url(api_key) not in content


# --- Staff who are not superusers ---------------------------------------------------------------


def test_view_only_staff_sees_the_changelist(view_only_client, api_key):
    response = view_only_client.get(CHANGELIST_URL)

    assert response.status_code == HTTPStatus.OK
    assert api_key.prefix in response.content.decode()


def test_view_only_staff_sees_a_key_page_read_only(view_only_client, api_key):
    response = view_only_client.get(change_url(api_key))

    assert response.status_code == HTTPStatus.OK
    assert read_only_values(response)["prefix"] == api_key.prefix
    content = response.content.decode()
    assert 'name="_save"' not in content
    assert 'name="rate_limit"' not in content


def test_view_only_staff_cannot_change_a_key(view_only_client, api_key):
    response = view_only_client.post(change_url(api_key), change_form(api_key, name="renamed"))

    assert response.status_code == HTTPStatus.FORBIDDEN
    api_key.refresh_from_db()
    assert api_key.name == "deploy"


def test_view_only_staff_cannot_open_the_add_form(view_only_client):
    assert view_only_client.get(ADD_URL).status_code == HTTPStatus.FORBIDDEN


def test_view_only_staff_cannot_issue_a_key(view_only_client, owner):
    response = view_only_client.post(ADD_URL, add_form(owner))

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not APIKey.objects.exists()


def test_view_only_staff_cannot_revoke_through_the_revoke_view(view_only_client, api_key):
    response = view_only_client.post(revoke_url(api_key))

    assert response.status_code == HTTPStatus.FORBIDDEN
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


def test_view_only_staff_cannot_open_the_revoke_confirmation(view_only_client, api_key):
    assert view_only_client.get(revoke_url(api_key)).status_code == HTTPStatus.FORBIDDEN


@pytest.mark.parametrize("method", ["get", "post"])
def test_view_only_staff_gets_403_not_revoked_already_for_a_revoked_key(
    view_only_client, revoked_key, method
):
    response = getattr(view_only_client, method)(revoke_url(revoked_key))

    # 403 as for an active key: whether a key is revoked is not learned here.
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "Location" not in response
    assert messages_of(response) == []
    assert "revoked already" not in response.content.decode()
    revoked_key.refresh_from_db()
    assert (revoked_key.revoked_at, revoked_key.revoked_by) == (EARLIER_REVOCATION, None)


@pytest.mark.parametrize("key", ["api_key", "revoked_key"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_staff_without_apikeys_permissions_gets_403_on_the_revoke_url(client, request, key, method):
    api_key = request.getfixturevalue(key)
    logged_in(client, UserFactory(staff=True, permissions=["view_user", "add_user"]))

    response = getattr(client, method)(revoke_url(api_key))

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert messages_of(response) == []
    assert revoked_log_entries() == []
    assert APIKey.objects.get(pk=api_key.pk).revoked_at == api_key.revoked_at


def test_view_only_staff_sees_no_revoke_link(view_only_client, api_key):
    content = view_only_client.get(change_url(api_key)).content.decode()

    assert revoke_url(api_key) not in content


def test_view_only_staff_is_not_offered_the_revoke_action(view_only_client, api_key):
    content = view_only_client.get(CHANGELIST_URL).content.decode()

    assert "revoke_selected" not in content


def test_view_only_staff_posting_the_revoke_action_revokes_nothing(view_only_client, api_key):
    view_only_client.post(CHANGELIST_URL, action_form(api_key))

    api_key.refresh_from_db()
    assert api_key.revoked_at is None


def test_staff_with_change_permission_revokes_as_themselves(client, api_key):
    staff = staff_with("view_apikey", "change_apikey")
    logged_in(client, staff)

    response = client.post(revoke_url(api_key))

    assert response.status_code == HTTPStatus.FOUND
    api_key.refresh_from_db()
    assert api_key.revoked_by == staff


def test_staff_with_add_but_not_change_can_issue_a_key(client, owner):
    logged_in(client, staff_with("add_apikey"))

    response = client.post(ADD_URL, add_form(owner))

    assert response.status_code == HTTPStatus.OK
    assert KEY_FORMAT.fullmatch(plaintext_in(response))
    assert APIKey.objects.filter(owner=owner).count() == 1


def test_staff_without_apikeys_permissions_gets_403_on_the_changelist(client, api_key):
    logged_in(client, UserFactory(staff=True, permissions=["view_user", "add_user"]))

    assert client.get(CHANGELIST_URL).status_code == HTTPStatus.FORBIDDEN


def test_staff_without_apikeys_permissions_gets_403_on_a_key_page(client, api_key):
    logged_in(client, UserFactory(staff=True, permissions=["view_user", "add_user"]))

    assert client.get(change_url(api_key)).status_code == HTTPStatus.FORBIDDEN
