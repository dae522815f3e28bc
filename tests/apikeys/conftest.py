"""Fixtures of the API-key admin's tests: the owner alice, her keys, and staff clients."""

from dataclasses import dataclass

import pytest
from django.test import Client

from apikeys.models import APIKey
from tests.apikeys.admin_pages import (
    ADD_URL,
    EARLIER_REVOCATION,
    add_form,
)
from tests.factories import APIKeyFactory, UserFactory
from tests.kit import key_in, logged_in
from users.models import User


@pytest.fixture
def owner(db: None) -> User:
    return UserFactory(username="alice")


@pytest.fixture
def api_key(owner: User) -> APIKey:
    """An active key of alice's, named "deploy" (its plaintext as `.plaintext`)."""
    return APIKeyFactory(owner=owner, name="deploy")


@pytest.fixture
def revoked_key(owner: User) -> APIKey:
    """A key of alice's named "old", issued and revoked at EARLIER_REVOCATION, by nobody in
    admin (as `revokeapikey` revokes)."""
    return APIKeyFactory(owner=owner, name="old", issued_at=EARLIER_REVOCATION, revoked=True)


@dataclass
class IssuedInAdmin:
    response: object
    plaintext: str
    api_key: APIKey


@pytest.fixture
def issued_in_admin(superuser_client: Client, owner: User) -> IssuedInAdmin:
    """A key issued through the add form by the superuser."""
    response = superuser_client.post(ADD_URL, add_form(owner, name="from admin"))
    plaintext = key_in(response.content.decode())
    api_key = APIKey.objects.get(prefix=plaintext.split("_")[1])
    return IssuedInAdmin(response=response, plaintext=plaintext, api_key=api_key)


@pytest.fixture
def view_only_client(client: Client) -> Client:
    return logged_in(client, UserFactory(staff=True, permissions=["apikeys.view_apikey"]))
