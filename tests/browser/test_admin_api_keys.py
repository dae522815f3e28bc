"""A staff member issues a key for a user in admin, the key works against the API, they
revoke it, and the API refuses it: all through a real browser."""

import json
import struct
import urllib.error
import urllib.request
from http import HTTPStatus
from pathlib import Path

import pytest

from apikeys.keys import KEY_PATTERN
from tests.browser.admin import log_in
from tests.factories import ProjectFactory, UserFactory


def api_get(base_url: str, path: str, key: str) -> tuple[int, dict]:
    request = urllib.request.Request(base_url + path, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def people(transactional_db):
    staff = UserFactory(username="operator", is_staff=True, is_superuser=True)
    customer = UserFactory(username="alice")
    ProjectFactory(owner=customer, name="Alice's project")
    return staff, customer


def png_size(path: Path) -> tuple[int, int]:
    # Width and height open a PNG's IHDR chunk, right after the 8-byte signature.
    header = path.read_bytes()[:24]
    assert header.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", header[16:24])


def issue_key_in_admin(page, base_url: str, owner: str, name: str) -> str:
    page.goto(f"{base_url}/admin/apikeys/apikey/add/")
    # The owner field is an autocomplete (select2): open it, type, pick the match.
    page.click(".field-owner .select2-selection")
    page.fill(".select2-search__field", owner)
    page.click(f".select2-results__option:has-text('{owner}')")
    page.fill("#id_name", name)
    page.click("input[name=_save]")
    page.wait_for_selector("#issued-api-key")
    return page.input_value("#issued-api-key")


def test_staff_issues_a_key_that_works_then_revokes_it(live_server, page, people, tmp_path):
    base_url = live_server.url
    log_in(page, base_url, "operator")

    plaintext = issue_key_in_admin(page, base_url, owner="alice", name="Browser key")
    screenshot = tmp_path / "key-issued.png"
    page.screenshot(path=str(screenshot), full_page=True)

    assert KEY_PATTERN.fullmatch(plaintext)
    assert page.is_visible("text=Copy this key now")
    assert page.is_visible("text=will not be shown again")
    # The key and the warning are inside what the screenshot shows.
    width, height = png_size(screenshot)
    for selector in ["#issued-api-key", "p.errornote"]:
        box = page.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["x"] + box["width"] <= width, selector
        assert box["y"] + box["height"] <= height, selector
    status, body = api_get(base_url, "/api/v1/projects", plaintext)
    assert status == HTTPStatus.OK
    assert [project["name"] for project in body["data"]] == ["Alice's project"]

    page.click("text=View the key's details")
    assert plaintext not in page.content()
    page.click("text=Revoke this key")
    page.click("input[value='Yes, revoke this key']")
    page.wait_for_selector("text=it no longer works")

    status, body = api_get(base_url, "/api/v1/projects", plaintext)
    assert status == HTTPStatus.UNAUTHORIZED
    assert body["error"]["code"] == "invalid_api_key"


def test_admin_pages_load_their_styles(live_server, page, people):
    log_in(page, live_server.url, "operator")
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)

    for path in [
        "/admin/",
        "/admin/apikeys/apikey/",
        "/admin/projects/project/",
        "/admin/users/user/",
    ]:
        page.goto(live_server.url + path)
        header = page.locator("#header")
        background = header.evaluate("element => getComputedStyle(element).backgroundColor")
        # Unstyled, the header would be transparent.
        assert background not in ("rgba(0, 0, 0, 0)", "transparent"), path

    assert failed == []
