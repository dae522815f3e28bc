"""The API-key admin's pages as the tests use them: their URLs, the forms they submit, and
what they show (read-only fields, messages, the admin log)."""

import html
import re
import xml.etree.ElementTree as ET
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
SVG = "{http://www.w3.org/2000/svg}"
USAGE_CHART = re.compile(r'<figure class="usage-chart">\s*(<svg\b.*?</svg>)', re.DOTALL)
EVENTS_TABLE = re.compile(r'<table class="key-events">.*?<tbody>(.*?)</tbody>', re.DOTALL)
EVENT_COLUMNS = ["type", "at", "actor", "via", "ip", "details"]
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


def usage_chart(response) -> ET.Element:
    """The key page's usage chart: its inline <svg>, which must be well-formed XML."""
    svg = found_once(USAGE_CHART, response.content.decode())
    return ET.fromstring(svg)  # noqa: S314 (our own page, from the test server)


def chart_days(chart: ET.Element) -> list[ET.Element]:
    """The chart's marks, one per day, left to right."""
    return [group for group in chart.iter(f"{SVG}g") if group.get("class") == "day"]


def chart_titles(response) -> list[str]:
    """The `<title>` of each day's mark, left to right."""
    return [day.find(f"{SVG}title").text for day in chart_days(usage_chart(response))]


def bar_height(day: ET.Element) -> float:
    """The height of a day's bar: its stacked parts (the column behind it is the hover area)."""
    return sum(
        float(rect.get("height"))
        for rect in day.iter(f"{SVG}rect")
        if rect.get("class") != "column"
    )


def events_shown(response) -> list[dict[str, str]]:
    """The key page's events, as its table shows them, top to bottom: {column: text}, a
    detail's lines joined by newlines."""
    body = found_once(EVENTS_TABLE, response.content.decode())
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL):
        cells = re.findall(r"<td>(.*?)</td>", row, re.DOTALL)
        texts = [
            html.unescape(re.sub(r"<[^>]+>", "", cell.replace("<br>", "\n"))) for cell in cells
        ]
        rows.append(dict(zip(EVENT_COLUMNS, (text.strip() for text in texts), strict=True)))
    return rows


def found_once(pattern: re.Pattern[str], text: str) -> str:
    matches = pattern.findall(text)
    assert len(matches) == 1, f"{len(matches)} matches of {pattern.pattern}"
    return matches[0]


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
