"""Staff issue, change and revoke keys only within their own rights
(docs/admin.md, "Staff authority"): superusers any key; other staff their own keys and those of
active users who are neither staff nor superusers. Each rule is tried the way an attacker would:
with forged requests, not only through what the pages offer."""

import io
from http import HTTPStatus

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from apikeys.keys import KEY_PATTERN
from apikeys.models import APIKey
from apikeys.services import apikey_issue, apikey_revoke, apikey_update, apikeys_revoke
from tests.apikeys.admin_pages import (
    ADD_URL,
    CHANGELIST_URL,
    action_form,
    add_form,
    change_form,
    change_url,
    revoke_url,
)
from tests.factories import UserFactory, acting
from tests.kit import logged_in
from users.models import User

pytestmark = pytest.mark.django_db

AUTOCOMPLETE_URL = reverse("admin:autocomplete")


def autocomplete_ids(client: Client, term: str = "") -> set[int]:
    response = client.get(
        AUTOCOMPLETE_URL,
        {"app_label": "apikeys", "model_name": "apikey", "field_name": "owner", "term": term},
    )
    assert response.status_code == HTTPStatus.OK
    return {int(result["id"]) for result in response.json()["results"]}


@pytest.fixture
def root(db: None) -> User:
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def other_staff(db: None) -> User:
    return UserFactory(username="ops", staff=True, permissions=["users.add_user"])


@pytest.fixture
def customer(db: None) -> User:
    return UserFactory(username="alice")


@pytest.fixture
def issuer(db: None) -> User:
    """Staff whose only rights are apikeys.add_apikey and users.view_user."""
    return UserFactory(
        username="issuer", staff=True, permissions=["apikeys.add_apikey", "users.view_user"]
    )


@pytest.fixture
def keeper(db: None) -> User:
    """Staff who may look at, change and revoke keys (no superuser)."""
    return UserFactory(
        username="keeper", staff=True, permissions=["apikeys.view_apikey", "apikeys.change_apikey"]
    )


@pytest.fixture
def keeper_client(client: Client, keeper: User) -> Client:
    return logged_in(client, keeper)


@pytest.fixture
def issuer_client(client: Client, issuer: User) -> Client:
    return logged_in(client, issuer)


# --- Issuing: the attack of the issue (a key issuer mints a superuser's key) ---------------------


@pytest.mark.parametrize("target", ["root", "other_staff"])
def test_key_issuer_forging_a_staff_owner_gets_the_forms_error_and_no_key(
    issuer_client, request, target
):
    owner = request.getfixturevalue(target)

    response = issuer_client.post(ADD_URL, add_form(owner))

    assert response.status_code == HTTPStatus.OK
    assert "owner" in response.context["adminform"].form.errors
    assert KEY_PATTERN.search(response.content.decode()) is None
    assert not APIKey.objects.exists()


def test_key_issuer_cannot_issue_for_a_superuser_who_is_also_not_staff(issuer_client):
    odd_superuser = UserFactory(is_superuser=True, is_staff=False)

    response = issuer_client.post(ADD_URL, add_form(odd_superuser))

    assert "owner" in response.context["adminform"].form.errors
    assert not APIKey.objects.exists()


def test_key_issuer_issues_a_key_for_themselves(issuer_client, issuer):
    response = issuer_client.post(ADD_URL, add_form(issuer))

    assert response.status_code == HTTPStatus.OK
    assert KEY_PATTERN.search(response.content.decode())
    assert APIKey.objects.get().owner == issuer


def test_key_issuer_issues_a_key_for_a_user_who_is_not_staff(issuer_client, customer):
    response = issuer_client.post(ADD_URL, add_form(customer))

    assert KEY_PATTERN.search(response.content.decode())
    assert APIKey.objects.get().owner == customer


def test_key_issuer_cannot_open_the_key_list_or_change_anything(issuer_client, customer):
    api_key = apikey_issue(owner=customer).api_key

    assert issuer_client.get(CHANGELIST_URL).status_code == HTTPStatus.FORBIDDEN
    assert issuer_client.post(revoke_url(api_key)).status_code == HTTPStatus.FORBIDDEN
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


def test_autocomplete_offers_the_key_issuer_only_themselves_and_users_who_are_not_staff(
    issuer_client, issuer, customer, root, other_staff
):
    inactive = UserFactory(is_active=False)

    assert autocomplete_ids(issuer_client) == {issuer.pk, customer.pk}
    assert inactive.pk not in autocomplete_ids(issuer_client, inactive.username)
    assert autocomplete_ids(issuer_client, "root") == set()


def test_autocomplete_offers_a_superuser_everyone(client, root, issuer, customer, other_staff):
    client.force_login(root)

    assert {issuer.pk, customer.pk, other_staff.pk, root.pk} <= autocomplete_ids(client)


def test_add_form_prefilled_with_a_superuser_owner_does_not_show_them(issuer_client, root):
    response = issuer_client.get(ADD_URL, {"owner": root.pk})

    assert response.status_code == HTTPStatus.OK
    assert f'<option value="{root.pk}" selected' not in response.content.decode()


def test_superuser_issues_a_key_for_another_staff_user(client, root, other_staff):
    client.force_login(root)

    response = client.post(ADD_URL, add_form(other_staff))

    assert KEY_PATTERN.search(response.content.decode())
    assert APIKey.objects.get().owner == other_staff


# --- Issuing: the service ------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["root", "other_staff"])
def test_apikey_issue_refuses_an_owner_beyond_the_actors_reach(issuer, request, target):
    owner = request.getfixturevalue(target)

    with pytest.raises(ValidationError) as raised:
        apikey_issue(owner=owner, source=acting(issuer))

    assert list(raised.value.message_dict) == ["owner"]
    assert not APIKey.objects.exists()


def test_apikey_issue_by_the_operator_has_a_superusers_rights(root):
    assert apikey_issue(owner=root).api_key.owner == root


# --- Changing and revoking -----------------------------------------------------------------------


@pytest.fixture
def root_key(root: User) -> APIKey:
    return apikey_issue(owner=root, name="root's").api_key


@pytest.fixture
def customer_key(customer: User) -> APIKey:
    return apikey_issue(owner=customer, name="alice's").api_key


@pytest.mark.parametrize("method", ["get", "post"])
def test_keeper_cannot_revoke_a_superusers_key_through_the_revoke_url(
    keeper_client, root_key, method
):
    response = getattr(keeper_client, method)(revoke_url(root_key))

    assert response.status_code == HTTPStatus.FORBIDDEN
    root_key.refresh_from_db()
    assert root_key.revoked_at is None


def test_keeper_cannot_change_another_staff_users_key(keeper_client, other_staff):
    api_key = apikey_issue(owner=other_staff, name="ops").api_key

    response = keeper_client.post(
        change_url(api_key),
        change_form(api_key, name="renamed", rate_limit="1/m"),
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    api_key.refresh_from_db()
    assert (api_key.name, api_key.rate_limit) == ("ops", None)


def test_keeper_sees_another_staff_users_key_read_only_without_a_revoke_link(
    keeper_client, root_key
):
    response = keeper_client.get(change_url(root_key))

    assert response.status_code == HTTPStatus.OK
    content = response.content.decode()
    assert 'name="_save"' not in content
    assert revoke_url(root_key) not in content


def test_revoke_action_revokes_only_the_keys_within_reach(
    keeper_client, keeper, root_key, customer_key
):
    own_key = apikey_issue(owner=keeper).api_key

    response = keeper_client.post(
        CHANGELIST_URL,
        action_form(root_key, customer_key, own_key),
        follow=True,
    )

    revoked = set(APIKey.objects.filter(revoked_at__isnull=False).values_list("pk", flat=True))
    assert revoked == {customer_key.pk, own_key.pk}
    assert "1 belong to staff accounts beyond your rights" in response.content.decode()


def test_keeper_revokes_a_key_of_a_user_who_is_not_staff(keeper_client, keeper, customer_key):
    response = keeper_client.post(revoke_url(customer_key))

    assert response.status_code == HTTPStatus.FOUND
    customer_key.refresh_from_db()
    assert customer_key.revoked_by == keeper


def test_keeper_revokes_their_own_key(keeper_client, keeper):
    own_key = apikey_issue(owner=keeper).api_key

    keeper_client.post(revoke_url(own_key))

    own_key.refresh_from_db()
    assert own_key.revoked_by == keeper


def test_apikey_revoke_refuses_a_key_beyond_the_actors_reach(keeper, root_key):
    with pytest.raises(PermissionDenied):
        apikey_revoke(api_key=root_key, source=acting(keeper))

    root_key.refresh_from_db()
    assert root_key.revoked_at is None


def test_apikeys_revoke_leaves_keys_beyond_the_actors_reach(keeper, root_key, customer_key):
    revoked = apikeys_revoke(api_keys=APIKey.objects.all(), source=acting(keeper))

    assert revoked == [customer_key.pk]


def test_apikey_update_refuses_a_key_beyond_the_actors_reach(keeper, root_key):
    with pytest.raises(PermissionDenied):
        apikey_update(
            api_key=root_key, name="mine", expires_at=None, rate_limit="1/m", source=acting(keeper)
        )

    root_key.refresh_from_db()
    assert (root_key.name, root_key.rate_limit) == ("root's", None)


def test_revokeapikey_command_acts_as_the_operator(root_key):
    call_command("revokeapikey", root_key.prefix, stdout=io.StringIO())

    root_key.refresh_from_db()
    assert root_key.revoked_at is not None
