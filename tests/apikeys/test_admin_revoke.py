"""Revoking keys in admin (docs/admin.md, "The pages"): the action on the change list and the button
on a key's page, both through the services, recording when and by whom; a revoked key's page is
read-only; keys are never deleted."""

from http import HTTPStatus

import pytest
from django.contrib.admin.models import CHANGE, LogEntry

from apikeys.admin import keys as apikeys_admin
from apikeys.models import APIKey
from apikeys.services import apikey_revoke, apikeys_revoke
from tests.apikeys.admin_pages import (
    CHANGELIST_URL,
    EARLIER_REVOCATION,
    action_form,
    change_form,
    change_url,
    delete_url,
    messages_of,
    read_only_values,
    revoke_url,
    revoked_by_another_request,
    revoked_log_entries,
)
from tests.factories import APIKeyFactory, UserFactory
from tests.kit import assert_read_only_page, get_projects, logged_in

pytestmark = pytest.mark.django_db


# --- The revoke action --------------------------------------------------------------------------


def test_revoke_action_revokes_the_selected_keys_by_the_staff_user(
    superuser_client, superuser, owner
):
    first, second = APIKeyFactory(owner=owner), APIKeyFactory(owner=owner)

    response = superuser_client.post(CHANGELIST_URL, action_form(first, second))

    assert response.status_code == HTTPStatus.FOUND
    for api_key in (first, second):
        api_key.refresh_from_db()
        assert api_key.revoked_at is not None
        assert api_key.revoked_by == superuser


def test_revoke_action_leaves_unselected_keys_active(superuser_client, owner):
    selected, unselected = APIKeyFactory(owner=owner), APIKeyFactory(owner=owner)

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
    first, second = APIKeyFactory(owner=owner), APIKeyFactory(owner=owner)

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
    def revoked_by_a_double_submit_first(*, api_keys, source):
        # The same user's other request (a double-clicked "Go") revokes the key after this
        # one found it active and before its UPDATE: this request revokes nothing.
        revoked_by_another_request(api_key, superuser)
        return apikeys_revoke(api_keys=api_keys, source=source)

    monkeypatch.setattr(apikeys_admin, "apikeys_revoke", revoked_by_a_double_submit_first)

    response = superuser_client.post(CHANGELIST_URL, action_form(api_key), follow=True)

    assert "Revoked 0 of the 1 selected keys." in response.content.decode()
    assert revoked_log_entries() == []


def test_changelist_offers_the_revoke_selected_keys_action(superuser_client, api_key):
    content = superuser_client.get(CHANGELIST_URL).content.decode()

    assert 'value="revoke_selected"' in content
    assert "Revoke selected keys" in content


def test_key_revoked_by_the_action_gets_401_from_the_api(superuser_client, api_key):
    assert get_projects(api_key.plaintext).status_code == HTTPStatus.OK

    superuser_client.post(CHANGELIST_URL, action_form(api_key))

    assert get_projects(api_key.plaintext).status_code == HTTPStatus.UNAUTHORIZED


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


def test_key_revoked_by_the_button_gets_401_from_the_api(superuser_client, api_key):
    assert get_projects(api_key.plaintext).status_code == HTTPStatus.OK

    superuser_client.post(revoke_url(api_key))

    assert get_projects(api_key.plaintext).status_code == HTTPStatus.UNAUTHORIZED


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
    logged_in(
        client,
        UserFactory(staff=True, permissions=["apikeys.view_apikey", "apikeys.change_apikey"]),
    )

    response = getattr(client, method)(revoke_url(revoked_key))

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == change_url(revoked_key)
    assert messages_of(response) == [f"Key {revoked_key.prefix} is revoked already."]
    assert revoked_log_entries() == []


def test_revoke_post_on_a_key_revoked_meanwhile_says_revoked_already_and_logs_nothing(
    superuser_client, api_key, monkeypatch
):
    def revoked_by_another_request_first(*, api_key, source):
        # Another request revokes the key after this one loaded it and found it active.
        revoked_by_another_request(api_key, None)
        return apikey_revoke(api_key=api_key, source=source)

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

    assert_read_only_page(response, "rate_limit")


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
