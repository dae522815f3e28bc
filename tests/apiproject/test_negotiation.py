"""`Accept` by RFC 9110 specificity, and media ranges refused as a body's type
(docs/api.md, "Transport")."""

from http import HTTPStatus

import pytest
from django.urls import reverse

from apiproject.api.negotiation import MediaRange, quality_of


@pytest.mark.parametrize(
    ("accept", "quality"),
    [
        ("application/json;q=0, */*", 0),
        ("*/*;q=0.1, application/json", 1),
        ("application/*;q=0, */*", 0),
        ("application/json;q=0.3, application/*;q=0", 0.3),
        ("text/html", 0),
        ("*/*;q=0", 0),
        ("application/json;q=bogus", 1),
        ("json", 0),
    ],
)
def test_the_most_specific_matching_range_decides(accept, quality):
    ranges = [MediaRange(part) for part in accept.split(",")]

    assert quality_of("application/json", ranges)[0] == quality


@pytest.mark.parametrize("accept", ["application/json;q=0, */*", "application/*;q=0, */*;q=1"])
def test_a_more_specific_refusal_gets_406(user_client, accept):
    response = user_client.get(reverse("project-list"), HTTP_ACCEPT=accept)

    assert response.status_code == HTTPStatus.NOT_ACCEPTABLE
    assert response.json()["error"]["code"] == "not_acceptable"


@pytest.mark.parametrize("accept", ["*/*;q=0.1, application/json", "application/*", ""])
def test_a_more_specific_acceptance_gets_json(user_client, accept):
    response = user_client.get(reverse("project-list"), HTTP_ACCEPT=accept)

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("content_type", ["*/*", "application/*", "*/json"])
def test_a_media_range_as_content_type_gets_415(staff_client, content_type):
    body = b'{"username": "bob", "email": "bob@example.com", "password": "long enough pass"}'

    response = staff_client.generic("POST", reverse("user-list"), body, content_type=content_type)

    assert response.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    assert response.json()["error"]["code"] == "unsupported_media_type"
