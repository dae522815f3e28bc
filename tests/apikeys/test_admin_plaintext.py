"""A key issued in admin is shown once, in the answer to the add form's POST
(docs/api.md, "The key format"): never on another page, nor in a session, a cookie, a message, the
admin log, an SQL statement, the cache or a log line."""

import logging
from http import HTTPStatus

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection
from django.http import HttpRequest
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.apikeys.admin_pages import ADD_URL, CHANGELIST_URL, add_form, change_url
from tests.kit import changelist, get_projects, key_in, secret_of

pytestmark = pytest.mark.django_db


def test_plaintext_is_not_on_the_change_page(superuser_client, issued_in_admin):
    response = superuser_client.get(change_url(issued_in_admin.api_key))

    assert response.status_code == HTTPStatus.OK
    assert secret_of(issued_in_admin.plaintext) not in response.content.decode()


def test_plaintext_is_not_on_the_changelist(superuser_client, issued_in_admin):
    response = superuser_client.get(CHANGELIST_URL)

    assert response.status_code == HTTPStatus.OK
    assert changelist(response).objects == [issued_in_admin.api_key]
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

    secret = secret_of(key_in(response.content.decode()))
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


def test_plaintext_is_not_in_the_cache(issued_in_admin):
    secret = secret_of(issued_in_admin.plaintext).encode()
    get_projects(issued_in_admin.plaintext)
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

    assert_not_logged(secret_of(key_in(response.content.decode())), caplog)
