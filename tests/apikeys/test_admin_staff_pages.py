"""The key pages as staff use them: the add form issues one key per rendering however often
it is sent (a one-time token; the plaintext kept nowhere, the session included), a key's page
shows its limit and this window's use, and revoking looks like the destructive action it is."""

import re
from http import HTTPStatus
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from apikeys.admin import issue_once
from apikeys.keys import KEY_PATTERN
from apikeys.models import APIKey
from apikeys.services import apikey_issue
from tests.apikeys import admin_pages
from tests.factories import UserFactory
from users.models import User

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:apikeys_apikey_add")
TOKEN_INPUT = re.compile(r'<input type="hidden" name="issue_token" value="([^"]+)">')


@pytest.fixture
def root_client(client: Client, db: None) -> Client:
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def owner(db: None) -> User:
    return UserFactory(username="alice")


def form_token(client: Client) -> str:
    match = TOKEN_INPUT.search(client.get(ADD_URL).content.decode())
    assert match, "the add form carries no one-time token"
    return match.group(1)


def add_form(owner: User, token: str, **fields: str) -> dict[str, object]:
    return admin_pages.add_form(owner, name="once", **{issue_once.FIELD: token}, **fields)


# --- One key per rendered form -------------------------------------------------------------------


def test_the_form_sent_twice_issues_one_key_and_then_names_it_without_the_plaintext(
    root_client, owner
):
    data = add_form(owner, form_token(root_client))

    first = root_client.post(ADD_URL, data)
    again = root_client.post(ADD_URL, data)

    plaintext = KEY_PATTERN.search(first.content.decode()).group()
    prefix = plaintext.split("_")[1]
    assert APIKey.objects.count() == 1
    assert again.status_code == HTTPStatus.CONFLICT
    assert f"already issued: {prefix}" in again.content.decode()
    assert KEY_PATTERN.search(again.content.decode()) is None
    assert "no-store" in again["Cache-Control"]


def test_the_session_keeps_the_prefix_never_the_plaintext(root_client, owner):
    token = form_token(root_client)
    plaintext = KEY_PATTERN.search(
        root_client.post(ADD_URL, add_form(owner, token)).content.decode()
    ).group()

    session = root_client.session
    assert session[issue_once.SESSION_KEY][token] == plaintext.split("_")[1]
    assert plaintext.split("_")[2] not in str(dict(session.items()))


def test_a_second_request_while_the_first_is_still_issuing_makes_no_key(
    root_client, owner, monkeypatch
):
    data = add_form(owner, form_token(root_client))
    # A double click: the first request has claimed the token and not finished yet.
    monkeypatch.setattr(issue_once, "claim", lambda request, token: False)

    response = root_client.post(ADD_URL, data)

    assert response.status_code == HTTPStatus.CONFLICT
    assert KEY_PATTERN.search(response.content.decode()) is None
    assert not APIKey.objects.exists()


def test_a_token_is_claimed_once_per_session():
    request = SimpleNamespace(session=SimpleNamespace(session_key="session-a"))
    other_session = SimpleNamespace(session=SimpleNamespace(session_key="session-b"))

    claims = [issue_once.claim(request, "t") for _ in range(3)]

    assert claims == [True, False, False]
    assert issue_once.claim(other_session, "t") is True


def test_a_form_with_errors_keeps_its_token_and_then_issues_once(root_client, owner):
    token = form_token(root_client)

    refused = root_client.post(ADD_URL, add_form(owner, token, rate_limit="fast"))
    issued = root_client.post(ADD_URL, add_form(owner, token))
    again = root_client.post(ADD_URL, add_form(owner, token))

    assert TOKEN_INPUT.search(refused.content.decode()).group(1) == token
    assert KEY_PATTERN.search(issued.content.decode())
    assert again.status_code == HTTPStatus.CONFLICT
    assert APIKey.objects.count() == 1


def test_two_rendered_forms_issue_two_keys(root_client, owner):
    first, second = form_token(root_client), form_token(root_client)

    root_client.post(ADD_URL, add_form(owner, first))
    root_client.post(ADD_URL, add_form(owner, second))

    assert APIKey.objects.count() == 2


def test_a_token_this_session_never_had_issues_like_a_form_without_one(root_client, owner):
    response = root_client.post(ADD_URL, add_form(owner, "made-up"))

    assert KEY_PATTERN.search(response.content.decode())
    assert APIKey.objects.count() == 1


def test_a_token_claimed_in_another_session_does_not_block_this_one(client, owner):
    root = UserFactory(is_staff=True, is_superuser=True)
    other = Client()
    other.force_login(root)
    client.force_login(root)
    token = form_token(client)
    cache.clear()

    other.post(ADD_URL, add_form(owner, form_token(other)))
    response = client.post(ADD_URL, add_form(owner, token))

    assert KEY_PATTERN.search(response.content.decode())
    assert APIKey.objects.count() == 2


# --- A key's page: its limit and this window's use -----------------------------------------------


def used_this_minute(client: Client, api_key: APIKey) -> str:
    content = client.get(reverse("admin:apikeys_apikey_change", args=[api_key.pk])).content
    match = re.search(
        r'<div class="form-row field-usage">.*?<div class="readonly">(.*?)</div>',
        content.decode(),
        re.DOTALL,
    )
    assert match, "the key's page shows no use"
    return match.group(1)


def test_key_page_shows_the_requests_counted_in_this_window(root_client, owner):
    issued = apikey_issue(owner=owner, rate_limit="250/m")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    for _ in range(3):
        assert api.get("/api/v1/projects").status_code == HTTPStatus.OK

    shown = used_this_minute(root_client, issued.api_key)

    assert shown.startswith("3 of 250 requests (250/m)")


def test_key_page_reads_the_count_without_counting(root_client, owner):
    issued = apikey_issue(owner=owner)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    api.get("/api/v1/projects")

    used_this_minute(root_client, issued.api_key)
    used_this_minute(root_client, issued.api_key)
    response = api.get("/api/v1/projects")

    assert response["X-RateLimit-Remaining"] == "98"


def test_key_page_of_an_unused_key_shows_none_used_of_the_default(root_client, owner):
    api_key = apikey_issue(owner=owner).api_key

    assert used_this_minute(root_client, api_key).startswith(
        "0 of 100 requests (100/m, the default)"
    )


# --- Revoking looks destructive -----------------------------------------------------------------


def test_revoke_this_key_is_styled_as_djangos_delete_button(root_client, owner):
    api_key = apikey_issue(owner=owner).api_key
    revoke_url = reverse("admin:apikeys_apikey_revoke", args=[api_key.pk])

    content = root_client.get(reverse("admin:apikeys_apikey_change", args=[api_key.pk])).content

    assert f'<a href="{revoke_url}" class="deletelink">Revoke this key</a>' in content.decode()


def test_revoke_confirmation_uses_djangos_delete_confirmation_style(root_client, owner):
    api_key = apikey_issue(owner=owner).api_key

    content = root_client.get(reverse("admin:apikeys_apikey_revoke", args=[api_key.pk])).content

    assert re.search(r'<body class="[^"]*\bdelete-confirmation\b', content.decode())
