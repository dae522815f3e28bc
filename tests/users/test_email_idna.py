"""An internationalised domain has one stored spelling, Unicode NFC (docs/api.md, "Users")."""

from http import HTTPStatus

import pytest
from django.urls import reverse

from users.emails import normalize_email
from users.models import User


@pytest.mark.parametrize(
    ("email", "stored"),
    [
        ("a@exämple.com", "a@exämple.com"),
        ("a@xn--exmple-cua.com", "a@exämple.com"),
        ("a@XN--EXMPLE-CUA.COM", "a@exämple.com"),
        ("a@exa\u0308mple.com", "a@exämple.com"),  # decomposed ä
        ("Ab@Example.COM", "Ab@example.com"),
        ("a@xn--zz.com", "a@xn--zz.com"),  # not valid IDNA: kept
    ],
)
def test_normalize_email(email, stored):
    assert normalize_email(email) == stored


def create(client, username: str, email: str):
    return client.post(
        reverse("user-list"),
        {"username": username, "email": email, "password": "a long enough passphrase"},
        format="json",
    )


def test_an_idna_domain_is_stored_in_unicode(staff_client):
    response = create(staff_client, "alice", "a@xn--exmple-cua.com")

    assert response.status_code == HTTPStatus.CREATED
    assert response.json()["email"] == "a@exämple.com"
    assert User.objects.get(username="alice").email == "a@exämple.com"


@pytest.mark.parametrize(
    ("first", "second"),
    [("a@exämple.com", "a@xn--exmple-cua.com"), ("a@xn--exmple-cua.com", "A@EXÄMPLE.com")],
)
def test_both_spellings_are_one_address(staff_client, first, second):
    assert create(staff_client, "alice", first).status_code == HTTPStatus.CREATED

    response = create(staff_client, "bob", second)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "email" in response.json()["error"]["fields"]
