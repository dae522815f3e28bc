"""What a key's admin page shows of what the key did and what was done to it (docs/admin.md,
"The pages"): its last 30 days of usage as a chart drawn by the server, and its events,
read-only."""

from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from apikeys.admin.usage_chart import PLOT_HEIGHT
from apikeys.events import OPERATOR, KeyChangeSource, key_events_record
from apikeys.models import APIKey, KeyEvent, KeyUsageDay
from apikeys.services import apikey_revoke
from apikeys.usage import usage_count
from tests.apikeys.admin_pages import (
    bar_height,
    change_form,
    change_url,
    chart_days,
    chart_titles,
    events_shown,
    revoke_url,
    usage_chart,
)
from tests.factories import APIKeyFactory
from tests.kit import bearer_client, get_projects

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
STAFF_IP = "203.0.113.7"
OWNER_IP = "198.51.100.2"


@pytest.fixture(autouse=True)
def frozen_clock(time_machine):
    """Every test of this page starts at NOW, before its keys are issued and staff log in."""
    time_machine.move_to(NOW, tick=False)
    return time_machine


def days_ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def folded(api_key: APIKey, day: date, requests: int, errors: int = 0, rate_limited: int = 0):
    """The day's counts as `manage.py foldkeyusage` leaves them in the database."""
    KeyUsageDay.objects.create(
        api_key=api_key, date=day, requests=requests, errors=errors, rate_limited=rate_limited
    )


def counted_today(api_key: APIKey, requests: int) -> None:
    """Requests counted in the cache today (Redis with REDIS_URL, else this process's
    memory), not folded yet."""
    for _ in range(requests):
        usage_count(prefix=api_key.prefix, field="requests")


# --- The usage chart --------------------------------------------------------------------------


def test_key_page_draws_30_days_as_an_inline_svg_image(superuser_client, api_key):
    chart = usage_chart(superuser_client.get(change_url(api_key)))

    assert chart.get("role") == "img"
    assert len(chart_days(chart)) == 30


def test_each_day_is_titled_with_its_date_and_requests_oldest_left_today_right(
    superuser_client, api_key
):
    folded(api_key, days_ago(6), requests=42, errors=2, rate_limited=1)
    folded(api_key, days_ago(29), requests=7)
    folded(api_key, days_ago(30), requests=1000)  # 31 days ago: not in the chart

    titles = chart_titles(superuser_client.get(change_url(api_key)))

    expected = [f"{days_ago(back).isoformat()}: 0" for back in range(29, -1, -1)]
    expected[0] = "2026-11-08: 7"
    expected[23] = "2026-12-01: 42"
    assert titles == expected


def test_todays_requests_counted_in_the_cache_are_in_the_chart(superuser_client, api_key):
    folded(api_key, days_ago(1), requests=5)
    counted_today(api_key, 3)

    titles = chart_titles(superuser_client.get(change_url(api_key)))

    assert titles[-2:] == ["2026-12-06: 5", "2026-12-07: 3"]


def test_requests_through_the_api_are_in_the_chart(superuser_client, api_key):
    for _ in range(2):
        assert get_projects(api_key.plaintext).status_code == HTTPStatus.OK

    assert chart_titles(superuser_client.get(change_url(api_key)))[-1] == "2026-12-07: 2"


def test_bars_are_scaled_to_the_busiest_day(superuser_client, api_key):
    folded(api_key, days_ago(2), requests=40)
    folded(api_key, days_ago(1), requests=10)

    days = chart_days(usage_chart(superuser_client.get(change_url(api_key))))

    assert [bar_height(day) for day in days[-3:]] == [PLOT_HEIGHT, PLOT_HEIGHT / 4, 0]


def test_errors_and_429s_are_stacked_on_the_days_bar(superuser_client, api_key):
    folded(api_key, TODAY, requests=100, errors=25, rate_limited=50)

    today = chart_days(usage_chart(superuser_client.get(change_url(api_key))))[-1]

    parts = {rect.get("class"): float(rect.get("height")) for rect in today if rect.get("y")}
    assert parts == {
        "column": PLOT_HEIGHT,
        "answered": PLOT_HEIGHT / 4,
        "errors": PLOT_HEIGHT / 4,
        "rate-limited": PLOT_HEIGHT / 2,
    }


def test_the_charts_label_sums_up_the_30_days(superuser_client, api_key):
    folded(api_key, days_ago(6), requests=1200, errors=30, rate_limited=4)
    folded(api_key, TODAY, requests=34)

    chart = usage_chart(superuser_client.get(change_url(api_key)))

    assert chart.get("aria-label") == (
        "1,234 requests in the last 30 days, 2026-11-08 to 2026-12-07 (UTC): 30 errors and 4 "
        "rate-limited (429) among them; the busiest day 2026-12-01, 1,200."
    )


def test_a_key_never_used_has_an_empty_chart_that_says_so(superuser_client, api_key):
    chart = usage_chart(superuser_client.get(change_url(api_key)))

    assert chart.get("aria-label") == (
        "No requests in the last 30 days, 2026-11-08 to 2026-12-07 (UTC)."
    )
    assert {bar_height(day) for day in chart_days(chart)} == {0}


def test_the_chart_loads_nothing_and_runs_nothing(superuser_client, api_key):
    folded(api_key, TODAY, requests=3)
    content = superuser_client.get(change_url(api_key)).content.decode()

    figure = content[content.index('<figure class="usage-chart">') :]
    figure = figure[: figure.index("</figure>")]
    for reference in ["<script", "href", "src=", "url(", "<image", "<use", "<foreignObject", " on"]:
        assert reference not in figure, reference


def test_the_chart_reads_the_30_days_in_one_query(superuser_client, api_key):
    for back in range(30):
        folded(api_key, days_ago(back), requests=back + 1)

    with CaptureQueriesContext(connection) as queries:
        response = superuser_client.get(change_url(api_key))

    assert chart_titles(response)[0] == "2026-11-08: 30"
    usage_queries = [
        q["sql"] for q in queries.captured_queries if "apikeys_keyusageday" in q["sql"]
    ]
    assert len(usage_queries) == 1


def test_view_only_staff_see_the_chart(view_only_client, api_key):
    folded(api_key, TODAY, requests=9)

    assert chart_titles(view_only_client.get(change_url(api_key)))[-1] == "2026-12-07: 9"


def test_a_revoked_keys_page_still_shows_its_chart(superuser_client, revoked_key):
    folded(revoked_key, days_ago(3), requests=4)

    assert "2026-12-04: 4" in chart_titles(superuser_client.get(change_url(revoked_key)))


# --- The events ---------------------------------------------------------------------------------


def test_events_of_a_key_changed_rolled_and_revoked_show_who_did_it_and_from_where(
    superuser_client, api_key, time_machine
):
    time_machine.move_to(NOW + timedelta(minutes=1), tick=False)
    response = superuser_client.post(
        change_url(api_key), change_form(api_key, name="renamed"), REMOTE_ADDR=STAFF_IP
    )
    assert response.status_code == HTTPStatus.FOUND
    time_machine.move_to(NOW + timedelta(minutes=2), tick=False)
    rolled = bearer_client(api_key.plaintext).post(
        reverse("apikey-roll", args=[api_key.prefix]),
        {"grace_seconds": 3600},
        format="json",
        REMOTE_ADDR=OWNER_IP,
    )
    assert rolled.status_code == HTTPStatus.CREATED
    time_machine.move_to(NOW + timedelta(minutes=3), tick=False)
    response = superuser_client.post(revoke_url(api_key), REMOTE_ADDR=STAFF_IP)
    assert response.status_code == HTTPStatus.FOUND

    events = events_shown(superuser_client.get(change_url(api_key)))

    successor = rolled.json()["id"]
    assert [{k: v for k, v in event.items() if k != "details"} for event in events] == [
        {
            "type": "revoked",
            "at": "2026-12-07 12:03:00",
            "actor": "root",
            "via": "admin",
            "ip": STAFF_IP,
        },
        {
            "type": "rolled",
            "at": "2026-12-07 12:02:00",
            "actor": "alice",
            "via": "api",
            "ip": OWNER_IP,
        },
        {
            "type": "changed",
            "at": "2026-12-07 12:01:00",
            "actor": "root",
            "via": "admin",
            "ip": STAFF_IP,
        },
        {
            "type": "issued",
            "at": "2026-12-07 12:00:00",
            "actor": "operator",
            "via": "command",
            "ip": "-",
        },
    ]
    assert events[0]["details"] == "-"
    assert events[1]["details"].startswith(
        f"successor: {successor}\ngrace ends at: 2026-12-07T13:02:00Z"
    )
    assert events[2]["details"] == "name: 'deploy' → 'renamed'"


def test_a_rolled_keys_event_links_to_its_successor(superuser_client, api_key):
    rolled = bearer_client(api_key.plaintext).post(
        reverse("apikey-roll", args=[api_key.prefix]), {}, format="json"
    )
    successor = APIKey.objects.get(prefix=rolled.json()["id"])

    content = superuser_client.get(change_url(api_key)).content.decode()

    assert f'href="{change_url(successor)}"' in content


def test_changed_events_name_each_change_readably(superuser_client, owner):
    api_key = APIKeyFactory(owner=owner, name="a", rate_limit="250/m")
    superuser_client.post(
        change_url(api_key),
        change_form(
            api_key, name="b", rate_limit="", expires_at_0="2031-05-06", expires_at_1="07:08:09"
        ),
    )

    changed = events_shown(superuser_client.get(change_url(api_key)))[0]

    assert changed["details"].splitlines() == [
        "name: 'a' → 'b'",
        "rate_limit: '250/m' → '100/m'",
        "expires_at: never → '2031-05-06T07:08:09Z'",
    ]


def test_a_leak_reports_revocation_shows_where_the_key_was_found_escaped(superuser_client, api_key):
    url = "https://github.com/octo/repo/blob/main/<script>alert(1)</script>"
    leak_report = KeyChangeSource(via=KeyEvent.Via.LEAK_REPORT)
    apikey_revoke(api_key=api_key, source=leak_report, details={"url": url})

    response = superuser_client.get(change_url(api_key))

    revoked = events_shown(response)[0]
    assert (revoked["actor"], revoked["via"], revoked["ip"]) == ("-", "leak_report", "-")
    assert revoked["details"] == f"found at: {url}"
    assert "<script>alert(1)</script>" not in response.content.decode()


def test_only_the_newest_50_events_are_shown_with_how_many_more_exist(
    superuser_client, api_key, time_machine
):
    for minute in range(1, 56):  # and the `issued` event: 56 in all
        time_machine.move_to(NOW + timedelta(minutes=minute), tick=False)
        key_events_record(
            api_keys=[api_key],
            type=KeyEvent.Type.CHANGED,
            source=OPERATOR,
            details={"changes": [{"field": "name", "from": f"{minute - 1}", "to": f"{minute}"}]},
        )

    response = superuser_client.get(change_url(api_key))

    events = events_shown(response)
    assert len(events) == 50
    assert events[0]["details"] == "name: '54' → '55'"
    assert events[-1]["details"] == "name: '5' → '6'"
    assert "The newest 50 are shown; 6 older events are not." in response.content.decode()


def test_events_cost_one_query_and_their_count_only_past_50(superuser_client, api_key):
    with CaptureQueriesContext(connection) as few:
        superuser_client.get(change_url(api_key))
    key_events_record(api_keys=[api_key] * 60, type=KeyEvent.Type.CHANGED, source=OPERATOR)
    with CaptureQueriesContext(connection) as many:
        superuser_client.get(change_url(api_key))

    def event_queries(queries):
        return [q["sql"] for q in queries.captured_queries if "apikeys_keyevent" in q["sql"]]

    assert len(event_queries(few)) == 1
    assert len(event_queries(many)) == 2


def test_view_only_staff_see_the_events(view_only_client, api_key):
    assert [event["type"] for event in events_shown(view_only_client.get(change_url(api_key)))] == [
        "issued"
    ]


# --- Events are never changed or deleted, in the admin either -----------------------------------


def test_key_events_have_no_admin_of_their_own():
    assert not admin.site.is_registered(KeyEvent)
    for view in ["changelist", "add", "change", "delete"]:
        with pytest.raises(NoReverseMatch):
            reverse(
                f"admin:apikeys_keyevent_{view}", args=[1] if view in ("change", "delete") else []
            )


def snapshot(api_key: APIKey) -> list[dict]:
    return list(KeyEvent.objects.filter(api_key=api_key).order_by("id").values())


@pytest.mark.parametrize("action", ["change", "delete", "history"])
def test_a_forged_post_to_an_events_admin_url_changes_nothing(superuser_client, api_key, action):
    event = KeyEvent.objects.get(api_key=api_key)
    before = snapshot(api_key)

    response = superuser_client.post(
        f"/admin/apikeys/keyevent/{event.pk}/{action}/",
        {"type": "revoked", "via": "api", "actor_name": "mallory", "post": "yes"},
    )

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert snapshot(api_key) == before


def test_a_forged_post_of_event_forms_on_the_key_page_changes_no_event(superuser_client, api_key):
    event = KeyEvent.objects.get(api_key=api_key)
    before = snapshot(api_key)
    forged = {
        # What an inline of events would read, were there one.
        "events-TOTAL_FORMS": "1",
        "events-INITIAL_FORMS": "1",
        "events-0-id": str(event.pk),
        "events-0-api_key": str(api_key.pk),
        "events-0-type": "revoked",
        "events-0-actor_name": "mallory",
        "events-0-DELETE": "on",
        # And the read-only field itself.
        "key_events": "nothing happened",
    }

    response = superuser_client.post(
        change_url(api_key), {**change_form(api_key, name="renamed"), **forged}
    )

    assert response.status_code == HTTPStatus.FOUND
    after = snapshot(api_key)
    assert after[:1] == before
    assert [(event["type"], event["actor_name"]) for event in after[1:]] == [("changed", "root")]


def test_deleting_a_key_and_its_events_is_refused(superuser_client, api_key):
    before = snapshot(api_key)

    response = superuser_client.post(
        reverse("admin:apikeys_apikey_delete", args=[api_key.pk]), {"post": "yes"}
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert snapshot(api_key) == before


def test_view_only_staff_cannot_change_events_through_the_key_page(view_only_client, api_key):
    before = snapshot(api_key)

    response = view_only_client.post(
        change_url(api_key), {**change_form(api_key), "events-0-DELETE": "on"}
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert snapshot(api_key) == before
