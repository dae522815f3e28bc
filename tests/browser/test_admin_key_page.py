"""A key's admin page in a real browser at 1280 px: its usage chart is an inline SVG of 30
titled bars, and the page loads nothing from outside the project (every request it makes goes
to the test server); its events are listed (docs/admin.md, "The pages")."""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from apikeys.models import KeyUsageDay
from apikeys.services import apikey_issue
from tests.browser.admin import log_in
from tests.factories import UserFactory

WIDTH = 1280  # the conftest's page


@pytest.fixture
def api_key(transactional_db):
    UserFactory(username="operator", is_staff=True, is_superuser=True)
    api_key = apikey_issue(owner=UserFactory(username="alice"), name="deploy").api_key
    today = timezone.now().date()
    for back, requests in [(0, 12), (3, 40), (29, 5)]:
        KeyUsageDay.objects.create(
            api_key=api_key, date=today - timedelta(days=back), requests=requests, errors=2
        )
    return api_key


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def test_key_page_draws_its_usage_inline_and_loads_nothing_from_elsewhere(
    live_server, page, api_key, tmp_path: Path
):
    log_in(page, live_server.url, "operator")
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{live_server.url}/admin/apikeys/apikey/{api_key.pk}/change/")
    page.wait_for_load_state("networkidle")
    assert page.viewport_size["width"] == WIDTH
    page.screenshot(path=str(tmp_path / "key-page.png"), full_page=True)

    chart = page.locator("figure.usage-chart > svg[role=img]")
    assert chart.count() == 1
    assert "57 requests in the last 30 days" in chart.get_attribute("aria-label")
    titles = chart.locator("g.day > title").all_text_contents()
    today = timezone.now().date()
    assert len(titles) == 30
    assert titles[-1] == f"{today.isoformat()}: 12"
    assert titles[-4] == f"{(today - timedelta(days=3)).isoformat()}: 40"
    assert titles[0] == f"{(today - timedelta(days=29)).isoformat()}: 5"
    # Drawn, and within the page at 1280 px.
    box = chart.bounding_box()
    assert box["width"] > 600 and box["x"] + box["width"] <= WIDTH
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    assert page.locator("table.key-events tbody tr").all_inner_texts()[0].startswith("issued")

    assert requested, "the page made no request"
    assert {origin(url) for url in requested} == {live_server.url}, requested
