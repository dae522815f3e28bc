"""Issuing a key in admin (docs/admin.md, "The pages"; docs/api.md, "The key format"): the add form,
and the answer to its POST, which shows the plaintext once, issued through apikey_issue."""

import hashlib
from http import HTTPStatus

import pytest

from apikeys.admin import keys as apikeys_admin
from apikeys.events import KeyChangeSource
from apikeys.keys import KEY_PATTERN
from apikeys.models import APIKey
from apikeys.services import IssuedAPIKey, apikey_issue
from tests.apikeys.admin_pages import ADD_URL, EXPIRY, EXPIRY_FIELDS, add_form
from tests.factories import UserFactory
from tests.kit import SCOPES, get_projects, key_in

pytestmark = pytest.mark.django_db


# --- The add form -------------------------------------------------------------------------------


def test_add_form_has_owner_name_expiry_rate_limit_and_scopes_fields(superuser_client):
    response = superuser_client.get(ADD_URL)

    assert response.status_code == HTTPStatus.OK
    assert list(response.context["adminform"].form.fields) == [
        "owner",
        "name",
        "expires_at",
        "rate_limit",
        "scopes",
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
    assert KEY_PATTERN.fullmatch(issued_in_admin.plaintext)
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
            "scopes": list(SCOPES),
            "source": KeyChangeSource(via="admin", actor=superuser, ip="127.0.0.1"),
        }
    ]


def test_issued_key_stores_the_sha256_digest_of_the_plaintext(issued_in_admin):
    expected = hashlib.sha256(issued_in_admin.plaintext.encode()).hexdigest()

    assert issued_in_admin.api_key.digest == expected


def test_issued_key_works_against_the_api(issued_in_admin):
    assert get_projects(issued_in_admin.plaintext).status_code == HTTPStatus.OK


def test_issued_key_has_the_submitted_expiry_and_rate_limit(superuser_client, owner):
    response = superuser_client.post(ADD_URL, add_form(owner, rate_limit="250/m", **EXPIRY_FIELDS))

    api_key = APIKey.objects.get(prefix=key_in(response.content.decode()).split("_")[1])
    assert (api_key.expires_at, api_key.rate_limit) == (EXPIRY, "250/m")


def test_issued_key_without_a_rate_limit_has_none(issued_in_admin):
    assert issued_in_admin.api_key.rate_limit is None
    assert issued_in_admin.api_key.expires_at is None


def test_add_post_with_a_bad_rate_limit_is_a_form_error_and_issues_nothing(superuser_client, owner):
    response = superuser_client.post(ADD_URL, add_form(owner, rate_limit="100/"))

    assert response.status_code == HTTPStatus.OK
    assert "rate_limit" in response.context["adminform"].form.errors
    assert KEY_PATTERN.search(response.content.decode()) is None
    assert not APIKey.objects.exists()


def test_add_post_for_an_inactive_owner_is_a_form_error_and_issues_nothing(superuser_client):
    inactive = UserFactory(username="gone", is_active=False)

    response = superuser_client.post(ADD_URL, add_form(inactive))

    assert response.status_code == HTTPStatus.OK
    owner_errors = response.context["adminform"].form.errors.get("owner", [])
    assert any("inactive" in error for error in owner_errors), owner_errors
    assert KEY_PATTERN.search(response.content.decode()) is None
    assert not APIKey.objects.exists()


@pytest.mark.parametrize("button", ["_addanother", "_continue"])
def test_add_post_asking_to_add_another_or_continue_still_answers_with_the_key(
    superuser_client, owner, button
):
    response = superuser_client.post(ADD_URL, {**add_form(owner), button: "1"})

    assert response.status_code == HTTPStatus.OK
    assert KEY_PATTERN.search(response.content.decode())


def test_add_post_with_an_expiry_in_the_past_is_a_form_error_and_issues_nothing(
    superuser_client, owner
):
    past = {"expires_at_0": "2020-01-01", "expires_at_1": "00:00:00"}

    response = superuser_client.post(ADD_URL, add_form(owner, **past))

    assert response.status_code == HTTPStatus.OK
    assert response.context["adminform"].form.errors["expires_at"] == [
        "A new key must expire in the future."
    ]
    assert not APIKey.objects.exists()
