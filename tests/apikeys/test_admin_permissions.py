"""What staff who are not superusers may do with keys in admin: exactly what their apikeys
permissions allow (view, change and revoke, add), and nothing is learned beyond it."""

from http import HTTPStatus

import pytest

from apikeys.keys import KEY_PATTERN
from apikeys.models import APIKey
from tests.apikeys.admin_pages import (
    ADD_URL,
    CHANGELIST_URL,
    EARLIER_REVOCATION,
    action_form,
    add_form,
    change_form,
    change_url,
    messages_of,
    read_only_values,
    revoke_url,
    revoked_log_entries,
)
from tests.factories import UserFactory
from tests.kit import assert_read_only_page, changelist, logged_in

pytestmark = pytest.mark.django_db


# --- Staff who are not superusers ---------------------------------------------------------------


def test_view_only_staff_sees_the_changelist(view_only_client, api_key):
    response = view_only_client.get(CHANGELIST_URL)

    assert response.status_code == HTTPStatus.OK
    assert changelist(response).objects == [api_key]


def test_view_only_staff_sees_a_key_page_read_only(view_only_client, api_key):
    response = view_only_client.get(change_url(api_key))

    assert_read_only_page(response, "rate_limit")
    assert read_only_values(response)["prefix"] == api_key.prefix


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
    staff = UserFactory(staff=True, permissions=["apikeys.view_apikey", "apikeys.change_apikey"])
    logged_in(client, staff)

    response = client.post(revoke_url(api_key))

    assert response.status_code == HTTPStatus.FOUND
    api_key.refresh_from_db()
    assert api_key.revoked_by == staff


def test_staff_with_add_but_not_change_can_issue_a_key(client, owner):
    logged_in(client, UserFactory(staff=True, permissions=["apikeys.add_apikey"]))

    response = client.post(ADD_URL, add_form(owner))

    assert response.status_code == HTTPStatus.OK
    assert KEY_PATTERN.search(response.content.decode())
    assert APIKey.objects.filter(owner=owner).count() == 1


def test_staff_without_apikeys_permissions_gets_403_on_the_changelist(client, api_key):
    logged_in(client, UserFactory(staff=True, permissions=["view_user", "add_user"]))

    assert client.get(CHANGELIST_URL).status_code == HTTPStatus.FORBIDDEN


def test_staff_without_apikeys_permissions_gets_403_on_a_key_page(client, api_key):
    logged_in(client, UserFactory(staff=True, permissions=["view_user", "add_user"]))

    assert client.get(change_url(api_key)).status_code == HTTPStatus.FORBIDDEN
