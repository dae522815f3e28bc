"""The admin as staff meet it, in a real browser at 1280x800: a key issued, copied with the
Copy button, never issued twice by a reload, revoked with a button that looks destructive;
the key list, the issued page and a key's page without horizontal scrolling."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from apikeys.keys import KEY_PATTERN
from apikeys.models import APIKey
from apikeys.services import apikey_issue
from tests.browser.admin import log_in
from tests.factories import UserFactory

VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture
def page(chromium, base_url):
    context = chromium.new_context(viewport=VIEWPORT)
    # Reading the clipboard back needs these; writing it (the page's button) needs a secure
    # context, which http://localhost is.
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def base_url(live_server) -> str:
    # localhost, not 127.0.0.1: the browser treats it as a secure context either way, and
    # the clipboard permission is granted to exactly this origin.
    return live_server.url


@pytest.fixture
def people(transactional_db):
    staff = UserFactory(username="operator", is_staff=True, is_superuser=True)
    customer = UserFactory(username="alice-the-customer-with-a-long-name")
    for n in range(3):
        api_key = apikey_issue(
            owner=customer,
            name=f"A fairly long key name for a deploy pipeline {n}",
            expires_at=timezone.now() + timedelta(days=90),
            rate_limit="1000/m",
        ).api_key
        APIKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
    return staff, customer


def no_horizontal_scroll(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def shoot(page, name: str, tmp_path: Path) -> Path:
    """A screenshot of the whole page at the viewport's width, for a person to look at."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_issue_copy_reload_and_revoke_a_key(live_server, base_url, page, people, tmp_path):
    _staff, customer = people
    log_in(page, base_url, "operator")

    page.goto(f"{base_url}/admin/apikeys/apikey/add/?owner={customer.pk}")
    assert customer.username in page.inner_text(".field-owner")
    page.fill("#id_name", "Browser key")
    page.click("input[name=_save]")
    page.wait_for_selector("#issued-api-key")
    plaintext = page.input_value("#issued-api-key")
    shoot(page, "issued", tmp_path)
    assert KEY_PATTERN.fullmatch(plaintext)
    assert no_horizontal_scroll(page) <= VIEWPORT["width"]

    page.click("#copy-api-key")
    page.wait_for_selector("#copy-api-key:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == plaintext

    # A reload posts the form again: no second key, and the first is not shown again.
    page.once("dialog", lambda dialog: dialog.accept())
    page.reload()
    content = page.content()
    assert plaintext not in content
    prefix = plaintext.split("_")[1]
    assert f"already issued: {prefix}" in page.inner_text("#content-main")
    assert APIKey.objects.filter(owner=customer, name="Browser key").count() == 1

    page.click(f"text=View key {prefix}")
    shoot(page, "key-page", tmp_path)
    assert no_horizontal_scroll(page) <= VIEWPORT["width"]
    revoke = page.locator("a.deletelink", has_text="Revoke this key")
    red = revoke.evaluate("element => getComputedStyle(element).backgroundColor")
    assert red not in ("rgba(0, 0, 0, 0)", "transparent")
    revoke.click()
    button = page.locator("input[value='Yes, revoke this key']")
    assert button.evaluate("element => getComputedStyle(element).backgroundColor") == red
    button.click()
    page.wait_for_selector("text=it no longer works")
    assert APIKey.objects.get(prefix=prefix).revoked_at is not None


def test_key_list_shows_every_column_without_horizontal_scroll(
    live_server, base_url, page, people, tmp_path
):
    log_in(page, base_url, "operator")

    page.goto(f"{base_url}/admin/apikeys/apikey/")
    shoot(page, "key-list", tmp_path)

    headers = [
        text.strip().lower() for text in page.locator("#result_list thead th").all_inner_texts()
    ]
    for column in ["prefix", "status", "owner", "name", "expires at", "last used at"]:
        assert column in headers, headers
    assert headers.index("status") == headers.index("prefix") + 1
    assert no_horizontal_scroll(page) <= VIEWPORT["width"]
    # The table scrolls inside its own box (.results) when too wide: that must not happen.
    assert page.evaluate(
        "(() => { const box = document.querySelector('.results');"
        " return box.scrollWidth <= box.clientWidth; })()"
    )
    right_edges = page.locator("#result_list thead th").evaluate_all(
        "cells => cells.map(cell => cell.getBoundingClientRect().right)"
    )
    assert max(right_edges) <= VIEWPORT["width"]
    assert no_horizontal_scroll(page) <= VIEWPORT["width"]
    shoot(page, "key-list", tmp_path)
