"""A key's events on its admin page (docs/admin.md, "The pages"): the newest EVENTS_SHOWN,
newest first, read-only, each one line of who did what through which door, its details in
words ("name: 'a' → 'b'"); how many older ones there are when there are more. Events are
never changed or deleted, in the admin either: there is no admin of KeyEvent and no form
here, only text."""

from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString

from apikeys.models import APIKey, KeyEvent
from apikeys.selectors import key_events_of

EVENTS_SHOWN = 50
TEMPLATE = "admin/apikeys/apikey/key_events.html"
# The words for a detail's name (the API's own names otherwise).
DETAIL_NAMES = {"successor": "successor", "grace_ends_at": "grace ends at", "url": "found at"}


@dataclass(frozen=True)
class ShownEvent:
    type: str
    at: Any  # datetime, formatted by the template
    actor: str
    via: str
    ip: str
    details: list[str]
    successor_url: str | None  # a `rolled` event's successor's page


def apikey_events_html(*, api_key: APIKey) -> SafeString:
    """The events' table (auto-escaped by its template): one query, two with more than
    EVENTS_SHOWN events (their count)."""
    events = list(key_events_of(api_key=api_key)[: EVENTS_SHOWN + 1])
    older = 0
    if len(events) > EVENTS_SHOWN:
        events = events[:EVENTS_SHOWN]
        older = key_events_of(api_key=api_key).count() - EVENTS_SHOWN
    context = {
        "events": [shown_event(event, api_key) for event in events],
        "shown": len(events),
        "older": older,
    }
    return render_to_string(TEMPLATE, context)


def shown_event(event: KeyEvent, api_key: APIKey) -> ShownEvent:
    successor_url = None
    if event.type == KeyEvent.Type.ROLLED and api_key.successor_id is not None:
        # A key is rolled once: its `rolled` event's successor is the key's successor.
        successor_url = reverse("admin:apikeys_apikey_change", args=[api_key.successor_id])
    return ShownEvent(
        type=event.type,
        at=event.at,
        actor=event_actor(event),
        via=event.via,
        ip=event.ip or "-",
        details=detail_lines(event),
        successor_url=successor_url,
    )


def event_actor(event: KeyEvent) -> str:
    """Who acted, by the name kept with the event (it outlives the account); "operator" for
    the operator's commands; "-" for a leak report, which nobody here acted on."""
    if event.actor_name:
        return event.actor_name
    return "operator" if event.via == KeyEvent.Via.COMMAND else "-"


def detail_lines(event: KeyEvent) -> list[str]:
    """The event's details in words, a line each: "name: 'a' → 'b'" for each change,
    "successor: Zq81LmN0" and the like otherwise."""
    details = event.details if isinstance(event.details, dict) else {}
    if event.type == KeyEvent.Type.CHANGED:
        return [
            f"{change.get('field')}: {_value(change.get('field'), change.get('from'))} → "
            f"{_value(change.get('field'), change.get('to'))}"
            for change in details.get("changes", [])
        ]
    return [f"{DETAIL_NAMES.get(name, name)}: {value}" for name, value in details.items()]


def _value(field: str | None, value: Any) -> str:
    """A changed value as the API shows it, quoted as Python quotes it; an expiry of None is
    "never"."""
    if value is None:
        return "never" if field == "expires_at" else "none"
    return repr(value)
