"""Key names hold no control characters and no bidirectional overrides, wherever they are entered
(service, command, admin), and the commands print every other unprintable character escaped
(docs/api.md, "Names people type"): a stored value cannot rewrite an operator's terminal."""

import io
from http import HTTPStatus

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from apikeys.models import APIKey
from apikeys.services import apikey_issue, apikey_update, apikey_validate
from apiproject.api.text import escape_unprintable
from tests.apikeys.admin_pages import add_form, change_form
from tests.factories import UserFactory
from tests.kit import run_command

pytestmark = pytest.mark.django_db

# An active key made to look revoked on a terminal: carriage return, "erase line", fake text.
TERMINAL_ATTACK = "ok\r\x1b[2K\u2026 (status: revoked)"
FORBIDDEN = [
    "\x00",
    "\t",
    "\n",
    "\r",
    "\x1b",
    "\x7f",
    "\x85",  # NEL, a C1 control
    "\u202a",
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u2066",
    "\u2069",
]
# Not controls, so they may be stored, but not printable either: escaped on output.
UNPRINTABLE_BUT_ALLOWED = ["\u200b", "\u2028", "\u00a0", "\u200f"]
ESCAPE = "\x1b"


@pytest.fixture
def bob(db: None):
    return UserFactory(username="bob")


# --- The rule, once ----------------------------------------------------------------------------


@pytest.mark.parametrize("char", FORBIDDEN)
def test_apikey_validate_refuses_control_characters_and_bidi_overrides_in_names(char):
    with pytest.raises(ValidationError) as raised:
        apikey_validate(name=f"a{char}b")

    assert list(raised.value.message_dict) == ["name"]


@pytest.mark.parametrize("name", ["Deploy key", "Clé de déploiement", "デプロイ", "a\u200bb"])
def test_apikey_validate_accepts_printable_names_and_other_format_characters(name):
    apikey_validate(name=name)


def test_apikey_issue_refuses_the_terminal_attack_and_makes_no_key(bob):
    with pytest.raises(ValidationError):
        apikey_issue(owner=bob, name=TERMINAL_ATTACK)

    assert not APIKey.objects.exists()


def test_apikey_update_refuses_a_control_character(bob):
    api_key = apikey_issue(owner=bob, name="fine").api_key

    with pytest.raises(ValidationError):
        apikey_update(api_key=api_key, name=TERMINAL_ATTACK, expires_at=None, rate_limit=None)

    api_key.refresh_from_db()
    assert api_key.name == "fine"


def test_model_field_refuses_a_bidi_override():
    field = APIKey._meta.get_field("name")

    with pytest.raises(ValidationError):
        field.run_validators("evil\u202egnp.exe")


# --- The commands ------------------------------------------------------------------------------


def test_createapikey_refuses_the_terminal_attack_with_no_key(bob):
    stdout = io.StringIO()

    with pytest.raises(CommandError, match="--name"):
        call_command(
            "createapikey", "bob", "--name", TERMINAL_ATTACK, stdout=stdout, stderr=io.StringIO()
        )

    assert stdout.getvalue() == ""
    assert not APIKey.objects.exists()


@pytest.mark.parametrize("char", ["\x1b", "\r", "\u202e", "\x9b"])
def test_listapikeys_prints_a_stored_control_character_escaped(bob, char):
    # A row written before the rule (or straight to the database) holds the character.
    api_key = apikey_issue(owner=bob, name="fine").api_key
    APIKey.objects.filter(pk=api_key.pk).update(name=f"ok{char}x (status: revoked)")

    stdout, _ = run_command("listapikeys")

    assert char not in stdout
    assert f"ok{escape_unprintable(char)}x (status: revoked)" in stdout
    assert stdout.splitlines()[1].rstrip().endswith("active")


def test_listapikeys_shows_the_terminal_attack_as_text_on_one_line(bob):
    api_key = apikey_issue(owner=bob).api_key
    APIKey.objects.filter(pk=api_key.pk).update(name=TERMINAL_ATTACK)

    stdout, _ = run_command("listapikeys")

    assert ESCAPE not in stdout
    assert "\r" not in stdout
    assert r"ok\r\x1b[2K" in stdout
    assert len(stdout.splitlines()) == 2


@pytest.mark.parametrize("char", UNPRINTABLE_BUT_ALLOWED)
def test_listapikeys_prints_other_unprintable_characters_escaped(bob, char):
    apikey_issue(owner=bob, name=f"a{char}b")

    stdout, _ = run_command("listapikeys")

    assert char not in stdout
    assert f"a{escape_unprintable(char)}b" in stdout
    assert escape_unprintable(char).startswith(("\\x", "\\u"))


def test_listapikeys_prints_printable_non_ascii_names_as_they_are(bob):
    apikey_issue(owner=bob, name="Clé デプロイ")

    stdout, _ = run_command("listapikeys")

    assert "Clé デプロイ" in stdout


def test_escaped_output_cannot_be_faked_with_a_backslash():
    assert escape_unprintable("a\\x1b") == "a\\\\x1b"
    assert escape_unprintable("a\x1b") == "a\\x1b"


# --- The admin ---------------------------------------------------------------------------------


@pytest.fixture
def superuser_client(client: Client, db: None) -> Client:
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_admin_add_form_refuses_the_terminal_attack(superuser_client, bob):
    response = superuser_client.post(
        reverse("admin:apikeys_apikey_add"),
        add_form(bob, name=TERMINAL_ATTACK),
    )

    assert response.status_code == HTTPStatus.OK
    assert "name" in response.context["adminform"].form.errors
    assert not APIKey.objects.exists()


def test_admin_change_form_refuses_a_bidi_override(superuser_client, bob):
    api_key = apikey_issue(owner=bob, name="fine").api_key

    response = superuser_client.post(
        reverse("admin:apikeys_apikey_change", args=[api_key.pk]),
        change_form(api_key, name="evil\u202egnp"),
    )

    assert response.status_code == HTTPStatus.OK
    assert "name" in response.context["adminform"].form.errors
    api_key.refresh_from_db()
    assert api_key.name == "fine"
