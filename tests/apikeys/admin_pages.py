"""The API-key admin's pages as the tests use them: their URLs, the forms they submit, and
what they show (read-only fields, messages, the admin log)."""

import re
from datetime import UTC, datetime
from http import HTTPStatus

import time_machine
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.messages import get_messages
from django.urls import reverse

from apikeys.models import APIKey
from apikeys.services import apikey_revoke
from tests.factories import acting
from tests.kit import SCOPES, get_projects
from users.models import User

ADD_URL = reverse("admin:apikeys_apikey_add")
CHANGELIST_URL = reverse("admin:apikeys_apikey_changelist")
EXPIRY = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
EXPIRY_FIELDS = {"expires_at_0": "2031-05-06", "expires_at_1": "07:08:09"}
NO_EXPIRY_FIELDS = {"expires_at_0": "", "expires_at_1": ""}
LAST_USED = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
EARLIER_REVOCATION = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
READ_ONLY_FIELD = re.compile(
    r'<div class="form-row field-(\w+)">(?:(?!form-row).)*?<div class="readonly">(.*?)</div>',
    re.DOTALL,
)


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
        "scopes": list(SCOPES),
        "_save": "Save",
        **fields,
    }


def change_form(api_key: APIKey, **fields: str) -> dict[str, object]:
    return {
        "name": api_key.name,
        **NO_EXPIRY_FIELDS,
        "rate_limit": api_key.rate_limit or "",
        "scopes": api_key.scopes,
        "_save": "Save",
        **fields,
    }


def action_form(*api_keys: APIKey, action: str = "revoke_selected") -> dict[str, object]:
    return {"action": action, "index": "0", "_selected_action": [key.pk for key in api_keys]}


def read_only_values(response) -> dict[str, str]:
    """The change page's read-only fields: {field: text shown}."""
    return {
        field: re.sub(r"<[^>]+>", "", html).strip()
        for field, html in READ_ONLY_FIELD.findall(response.content.decode())
    }


def messages_of(response) -> list[str]:
    """The messages the request queued or read (a followed redirect's page shows them)."""
    return [str(message) for message in get_messages(response.wsgi_request)]


def revoked_log_entries() -> list[LogEntry]:
    return list(LogEntry.objects.filter(action_flag=CHANGE, change_message="Revoked."))


def used_against_the_api(api_key: APIKey) -> None:
    """The key (one from APIKeyFactory) is used against the API at LAST_USED, which the API
    records as its last_used_at."""
    with time_machine.travel(LAST_USED, tick=False):
        assert get_projects(api_key.plaintext).status_code == HTTPStatus.OK


def revoked_by_another_request(api_key: APIKey, revoked_by: User | None) -> None:
    """The key is revoked at EARLIER_REVOCATION by a request of its own (which loads its own
    copy of the key), as `revoked_by` (None: not in admin)."""
    with time_machine.travel(EARLIER_REVOCATION, tick=False):
        apikey_revoke(api_key=APIKey.objects.get(pk=api_key.pk), source=acting(revoked_by))
