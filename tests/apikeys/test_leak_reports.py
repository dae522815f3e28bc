"""Leak reports, GitHub's secret scanning partner protocol (docs/api.md, "Leak reports"): a
signed report revokes our working keys at once and labels the rest false positives; a report
that is not GitHub's changes nothing and counts against its address's budget."""

import json
import logging
import os
import zlib
from datetime import UTC, datetime
from http import HTTPStatus

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from apikeys.models import APIKey, KeyEvent
from apikeys.serializers import MAX_REPORTED_TOKENS
from tests.factories import APIKeyFactory, UserFactory, forged_key
from tests.kit import (
    BAD_CHECKSUM_KEY,
    LEAK_REPORTS_URL,
    GitHubKey,
    assert_error,
    bearer_client,
    get_projects,
    github_keys_json,
    report_body,
)

pytestmark = pytest.mark.django_db

FOUND_AT = "https://github.com/octo/repo/blob/main/settings.py"
NO_KEY_CHALLENGE = 'Bearer realm="api"'
INVALID_KEY_CHALLENGE = 'Bearer realm="api", error="invalid_token"'
WITHOUT_IDENTIFIER = {"HTTP_GITHUB_PUBLIC_KEY_IDENTIFIER": None}
WITHOUT_SIGNATURE = {"HTTP_GITHUB_PUBLIC_KEY_SIGNATURE": None}
RATE_HEADERS = {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
# Any moment will do; a fixed one keeps failures reproducible.
EPOCH = 1_800_000_000


@pytest.fixture
def key(user) -> APIKey:
    return APIKeyFactory(owner=user)


def verdict(token: str, label: str) -> dict[str, str]:
    return {"token_raw": token, "token_type": "api_key", "label": label}


def key_states() -> list[tuple]:
    """What a refused or ignored report must leave as it was: every key and every event."""
    return [
        list(APIKey.objects.order_by("pk").values_list("pk", "revoked_at", "expires_at")),
        list(KeyEvent.objects.order_by("pk").values_list("pk", "type", "via")),
    ]


# --- A signed report ----------------------------------------------------------------------------


def test_a_signed_report_revokes_our_working_key_at_once(leak_reports, key):
    assert get_projects(key.plaintext).status_code == HTTPStatus.OK

    response = leak_reports.post(report_body(key.plaintext, url=FOUND_AT))

    assert response.status_code == HTTPStatus.OK
    assert response.json() == [verdict(key.plaintext, "true_positive")]
    assert_error(get_projects(key.plaintext), HTTPStatus.UNAUTHORIZED, "invalid_api_key")
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert key.revoked_by is None


def test_the_revocation_is_an_event_via_leak_report_naming_the_url(leak_reports, user, key):
    leak_reports.post(report_body(key.plaintext, url=FOUND_AT))

    owner = bearer_client(APIKeyFactory(owner=user).plaintext)
    events = owner.get(reverse("apikey-events", kwargs={"key_id": key.prefix})).json()["data"]
    revoked = events[0]
    assert [event["type"] for event in events] == ["revoked", "issued"]
    assert (revoked["via"], revoked["actor"], revoked["ip"]) == ("leak_report", None, None)
    assert revoked["details"] == {"url": FOUND_AT}


def test_everything_else_is_a_false_positive_and_changes_nothing(leak_reports, user):
    revoked = APIKeyFactory(owner=user, revoked=True)
    expired = APIKeyFactory(owner=user, expired=True)
    inactive_owner = APIKeyFactory(owner=UserFactory())
    inactive_owner.owner.is_active = False
    inactive_owner.owner.save()
    wrong_secret = revoked.plaintext[:-8] + forged_key(revoked.prefix)[-8:]
    others = [
        forged_key(),  # an unknown prefix, its checksum right
        BAD_CHECKSUM_KEY,
        "not-a-key-at-all",
        "",
        revoked.plaintext,
        expired.plaintext,
        inactive_owner.plaintext,
        wrong_secret,
    ]
    before = key_states()

    response = leak_reports.post(report_body(*others))

    assert response.status_code == HTTPStatus.OK
    assert response.json() == [verdict(token, "false_positive") for token in others]
    assert key_states() == before


def test_each_token_gets_its_verdict_in_order(leak_reports, user, key):
    other = APIKeyFactory(owner=user)
    tokens = [forged_key(), key.plaintext, BAD_CHECKSUM_KEY, other.plaintext]

    response = leak_reports.post(report_body(*tokens))

    labels = ["false_positive", "true_positive", "false_positive", "true_positive"]
    assert response.json() == [verdict(t, label) for t, label in zip(tokens, labels, strict=True)]
    assert APIKey.objects.filter(revoked_at__isnull=False).count() == 2


def test_a_token_reported_twice_is_revoked_once_and_both_are_true_positives(leak_reports, key):
    body = json.dumps(
        [
            {"token": key.plaintext, "type": "api_key", "url": FOUND_AT, "source": "content"},
            {"token": key.plaintext, "type": "api_key", "url": "https://x.example/2"},
        ]
    ).encode()

    response = leak_reports.post(body)

    assert [item["label"] for item in response.json()] == ["true_positive", "true_positive"]
    (event,) = KeyEvent.objects.filter(api_key=key, type=KeyEvent.Type.REVOKED)
    assert event.details == {"url": FOUND_AT}  # the first report's


def test_a_key_reported_again_later_is_a_false_positive(leak_reports, key):
    leak_reports.post(report_body(key.plaintext))

    again = leak_reports.post(report_body(key.plaintext))

    assert again.json() == [verdict(key.plaintext, "false_positive")]
    assert KeyEvent.objects.filter(api_key=key, type=KeyEvent.Type.REVOKED).count() == 1


def test_url_and_source_are_optional_and_other_fields_are_ignored(leak_reports, key):
    body = json.dumps(
        [{"token": key.plaintext, "type": "ak", "url": None, "found_by": "a field GitHub added"}]
    ).encode()

    response = leak_reports.post(body)

    assert response.status_code == HTTPStatus.OK
    assert response.json() == [
        {"token_raw": key.plaintext, "token_type": "ak", "label": "true_positive"}
    ]
    (event,) = KeyEvent.objects.filter(api_key=key, type=KeyEvent.Type.REVOKED)
    assert event.details == {"url": None}


def test_an_empty_report_is_an_empty_answer(leak_reports):
    response = leak_reports.post(b"[]")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == []


def test_a_report_counts_against_no_key_even_sent_with_one(leak_reports, key):
    other = APIKeyFactory(owner=key.owner)

    response = leak_reports.post(report_body(forged_key()), client=bearer_client(other.plaintext))

    assert response.status_code == HTTPStatus.OK
    assert not RATE_HEADERS & set(response.headers)


def test_false_positives_cost_the_same_queries_however_many(leak_reports, key):
    with CaptureQueriesContext(connection) as one:
        leak_reports.post(report_body(forged_key()))
    with CaptureQueriesContext(connection) as many:
        leak_reports.post(report_body(*[forged_key() for _ in range(50)], BAD_CHECKSUM_KEY))

    assert len(many) == len(one) == 1


def test_a_revocation_is_logged_with_the_prefix_and_the_url(leak_reports, key, caplog):
    with caplog.at_level(logging.WARNING, logger="apikeys.services"):
        leak_reports.post(report_body(key.plaintext, url=FOUND_AT))

    assert [record.getMessage() for record in caplog.records] == [
        f"Key {key.prefix} revoked: reported leaked at {FOUND_AT!r}"
    ]


# --- Signatures ---------------------------------------------------------------------------------


def assert_nothing_happened(response, before, code: str) -> None:
    assert_error(response, HTTPStatus.UNAUTHORIZED, code)
    challenge = INVALID_KEY_CHALLENGE if code == "invalid_api_key" else NO_KEY_CHALLENGE
    assert response["WWW-Authenticate"] == challenge
    assert key_states() == before


def test_a_bad_signature_is_401_invalid_api_key_and_revokes_nothing(leak_reports, key):
    before = key_states()
    body = report_body(key.plaintext)

    tampered = leak_reports.post(
        body, HTTP_GITHUB_PUBLIC_KEY_SIGNATURE=leak_reports.github_key.sign(body + b" ")
    )
    not_base64 = leak_reports.post(body, HTTP_GITHUB_PUBLIC_KEY_SIGNATURE="not base64!")
    not_der = leak_reports.post(body, HTTP_GITHUB_PUBLIC_KEY_SIGNATURE="AAAA")

    for response in (tampered, not_base64, not_der):
        assert_nothing_happened(response, before, "invalid_api_key")
    assert get_projects(key.plaintext).status_code == HTTPStatus.OK


def test_a_signature_by_a_key_github_does_not_list_is_401(leak_reports, key):
    before = key_states()
    impostor = GitHubKey.generate(leak_reports.github_key.identifier)

    response = leak_reports.post(report_body(key.plaintext), signed_by=impostor)

    assert_nothing_happened(response, before, "invalid_api_key")


def test_an_unknown_key_identifier_is_401_invalid_api_key(leak_reports, key):
    before = key_states()

    response = leak_reports.post(
        report_body(key.plaintext), HTTP_GITHUB_PUBLIC_KEY_IDENTIFIER="no-such-key"
    )

    assert_nothing_happened(response, before, "invalid_api_key")


@pytest.mark.parametrize(
    "missing",
    [WITHOUT_IDENTIFIER, WITHOUT_SIGNATURE, {**WITHOUT_IDENTIFIER, **WITHOUT_SIGNATURE}],
    ids=["identifier", "signature", "both"],
)
def test_a_missing_signature_header_is_401_authentication_required(leak_reports, key, missing):
    before = key_states()

    response = leak_reports.post(report_body(key.plaintext), **missing)

    assert_nothing_happened(response, before, "authentication_required")


def test_a_key_github_no_longer_calls_current_still_verifies(leak_reports, key):
    retired, current = GitHubKey.generate("retired"), GitHubKey.generate("current")
    leak_reports.keys_file.write_text(github_keys_json(retired, current, current=current))

    response = leak_reports.post(report_body(key.plaintext), signed_by=retired)

    assert response.status_code == HTTPStatus.OK
    assert response.json()[0]["label"] == "true_positive"


# --- The per-IP budget --------------------------------------------------------------------------


@pytest.fixture
def ip_budget(settings, time_machine) -> int:
    """3 failures a minute per address, on a clock frozen 10 s before the end of the test
    client's window (django-ratelimit's windows are staggered by a CRC32 of the address)."""
    settings.API_FAILED_AUTH_RATE_LIMIT = "3/m"
    end = EPOCH - EPOCH % 60 + zlib.crc32(b"127.0.0.1") % 60
    time_machine.move_to(datetime.fromtimestamp(end + 60 - 10, tz=UTC), tick=False)
    return 3


def test_failed_signatures_past_the_ip_budget_get_429(leak_reports, key, ip_budget):
    body = report_body(key.plaintext)
    unknown = {"HTTP_GITHUB_PUBLIC_KEY_IDENTIFIER": "no-such-key"}
    statuses = [
        leak_reports.post(body, **unknown).status_code,
        leak_reports.post(body, **WITHOUT_SIGNATURE).status_code,
        leak_reports.post(body, HTTP_GITHUB_PUBLIC_KEY_SIGNATURE="AAAA").status_code,
    ]
    before = key_states()

    refused = leak_reports.post(body, **unknown)

    assert statuses == [HTTPStatus.UNAUTHORIZED] * ip_budget
    assert_error(refused, HTTPStatus.TOO_MANY_REQUESTS, "rate_limit_exceeded")
    assert int(refused["Retry-After"]) >= 1
    assert key_states() == before


def test_failed_signatures_share_the_budget_of_failed_authentication(
    leak_reports, anonymous_client, ip_budget
):
    for _ in range(ip_budget):
        anonymous_client.get(
            reverse("project-list"), HTTP_AUTHORIZATION=f"Bearer {BAD_CHECKSUM_KEY}"
        )

    response = leak_reports.post(report_body(forged_key()), **WITHOUT_SIGNATURE)

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_a_signed_report_is_served_past_the_budget_and_spends_none_of_it(
    leak_reports, key, ip_budget
):
    for _ in range(ip_budget + 1):
        leak_reports.post(report_body(forged_key()), **WITHOUT_SIGNATURE)

    response = leak_reports.post(report_body(key.plaintext))

    assert response.status_code == HTTPStatus.OK
    assert response.json()[0]["label"] == "true_positive"


# --- The order of checks ------------------------------------------------------------------------


def test_a_body_over_1_mib_is_413_before_the_signature_is_read(leak_reports, key):
    leak_reports.keys_file.unlink()  # neither the headers nor the file are looked at
    body = report_body(key.plaintext)
    body = body[:-1] + b" " * (1024 * 1024 - len(body) + 1) + b"]"

    response = leak_reports.post(body, **WITHOUT_IDENTIFIER, **WITHOUT_SIGNATURE)

    assert_error(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large")
    assert get_projects(key.plaintext).status_code == HTTPStatus.OK


def test_a_body_of_exactly_1_mib_is_read(leak_reports, key):
    body = report_body(key.plaintext)
    body = body[:-1] + b" " * (1024 * 1024 - len(body)) + b"]"

    response = leak_reports.post(body)

    assert response.status_code == HTTPStatus.OK


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_another_method_is_405_before_the_signature(leak_reports, method):
    response = getattr(APIClient(), method)(LEAK_REPORTS_URL)

    assert_error(response, HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed")
    assert response["Allow"] == "POST"


def test_accept_without_json_is_406_first(leak_reports):
    response = APIClient().post(
        LEAK_REPORTS_URL, b"[]", content_type="application/json", HTTP_ACCEPT="text/html"
    )

    assert_error(response, HTTPStatus.NOT_ACCEPTABLE, "not_acceptable")


def test_a_signed_body_that_is_not_json_media_is_415(leak_reports):
    body = b"[]"
    response = APIClient().post(
        LEAK_REPORTS_URL, body, content_type="text/plain", **leak_reports.github_key.headers(body)
    )

    assert_error(response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")


def test_an_unsigned_body_that_is_not_json_is_401_not_400(leak_reports):
    response = leak_reports.post(b"{not json", **WITHOUT_SIGNATURE)

    assert_error(response, HTTPStatus.UNAUTHORIZED, "authentication_required")


# --- Bodies -------------------------------------------------------------------------------------

TOKEN = "ak_AAAAAAAA_" + "A" * 49
BAD_BODIES = {
    "malformed JSON": (b'[{"token": ', None),
    "an object": (b'{"token": "x", "type": "api_key"}', "non_field_errors"),
    "a string": (b'"ak_x"', "non_field_errors"),
    "an array of strings": (b'["ak_x"]', "[0]"),
    "an item without a token": (b'[{"type": "api_key"}]', "[0].token"),
    "an item without a type": (json.dumps([{"token": TOKEN}]).encode(), "[0].type"),
    "a token that is no string": (b'[{"token": 12, "type": "api_key"}]', "[0].token"),
    "a url that is no string": (
        json.dumps([{"token": TOKEN, "type": "api_key", "url": 5}]).encode(),
        "[0].url",
    ),
    "a bad second item": (
        json.dumps([{"token": TOKEN, "type": "t"}, {"token": [], "type": "t"}]).encode(),
        "[1].token",
    ),
}


@pytest.mark.parametrize(("body", "field"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_signed_body_that_is_not_an_array_of_tokens_is_400(leak_reports, body, field):
    before = key_states()

    response = leak_reports.post(body)

    error = assert_error(response, HTTPStatus.BAD_REQUEST, "invalid_request")
    if field is not None:
        assert field in error["fields"]
        assert error["details"]
    assert key_states() == before


def test_an_item_without_a_token_says_so(leak_reports):
    response = leak_reports.post(b'[{"type": "api_key"}]')

    assert response.json()["error"]["details"] == "The '[0].token' field is required"


def test_a_report_of_over_1000_tokens_is_400_and_revokes_nothing(leak_reports, key):
    tokens = [key.plaintext] + [forged_key() for _ in range(MAX_REPORTED_TOKENS)]
    before = key_states()

    response = leak_reports.post(report_body(*tokens))

    error = assert_error(response, HTTPStatus.BAD_REQUEST, "invalid_request")
    assert error["details"] == "A leak report holds at most 1,000 tokens, not 1,001."
    assert key_states() == before


def test_a_report_of_1000_tokens_is_served(leak_reports, key):
    tokens = [forged_key() for _ in range(MAX_REPORTED_TOKENS - 1)] + [key.plaintext]

    response = leak_reports.post(report_body(*tokens))

    assert response.status_code == HTTPStatus.OK
    labels = [item["label"] for item in response.json()]
    assert labels == ["false_positive"] * (MAX_REPORTED_TOKENS - 1) + ["true_positive"]


# --- The keys file ------------------------------------------------------------------------------


def test_a_keys_file_replaced_on_disk_is_picked_up(leak_reports, key):
    old = leak_reports.github_key
    assert leak_reports.post(report_body(forged_key())).status_code == HTTPStatus.OK
    new = GitHubKey.generate("github-key-2")
    replacement = leak_reports.keys_file.with_name("github-keys.json.new")
    replacement.write_text(github_keys_json(new))

    os.replace(replacement, leak_reports.keys_file)  # as the cron job's mv does

    assert leak_reports.post(report_body(key.plaintext), signed_by=old).status_code == (
        HTTPStatus.UNAUTHORIZED
    )
    response = leak_reports.post(report_body(key.plaintext), signed_by=new)
    assert response.json() == [verdict(key.plaintext, "true_positive")]


def other_curve_pem() -> str:
    key = ec.generate_private_key(ec.SECP384R1()).public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


UNUSABLE_KEYS_FILES = {
    "not JSON": "{",
    "not GitHub's format": '{"keys": []}',
    "no keys": '{"public_keys": []}',
    "an entry without an identifier": '{"public_keys": [{"key": "x", "is_current": true}]}',
    "a key that is no PEM": (
        '{"public_keys": [{"key_identifier": "k", "key": "x", "is_current": true}]}'
    ),
    "a key on another curve": None,  # filled in by the test: P-384
}


@pytest.mark.parametrize("content", UNUSABLE_KEYS_FILES.values(), ids=UNUSABLE_KEYS_FILES.keys())
def test_a_malformed_keys_file_is_503_with_an_error_line(leak_reports, key, caplog, content):
    if content is None:
        entry = {"key_identifier": "github-key-1", "key": other_curve_pem(), "is_current": True}
        content = json.dumps({"public_keys": [entry]})
    leak_reports.keys_file.write_text(content)
    before = key_states()

    with caplog.at_level(logging.ERROR, logger="apikeys.views"):
        response = leak_reports.post(report_body(key.plaintext))

    error = assert_error(response, HTTPStatus.SERVICE_UNAVAILABLE, "service_unavailable")
    assert "GitHub's public keys" in error["details"]
    (line,) = [r for r in caplog.records if r.name == "apikeys.views"]
    assert line.levelno == logging.ERROR
    assert str(leak_reports.keys_file) in line.getMessage()
    assert key_states() == before


def test_a_missing_keys_file_is_503(leak_reports, key, caplog):
    leak_reports.keys_file.unlink()

    with caplog.at_level(logging.ERROR, logger="apikeys.views"):
        response = leak_reports.post(report_body(key.plaintext))

    assert_error(response, HTTPStatus.SERVICE_UNAVAILABLE, "service_unavailable")
    (line,) = [r for r in caplog.records if r.name == "apikeys.views"]
    assert "cannot be read" in line.getMessage()


def test_a_fixed_keys_file_is_used_at_once(leak_reports, key):
    leak_reports.keys_file.write_text("{")
    assert leak_reports.post(report_body(key.plaintext)).status_code == 503

    leak_reports.keys_file.write_text(github_keys_json(leak_reports.github_key))

    assert leak_reports.post(report_body(key.plaintext)).status_code == HTTPStatus.OK


# --- Without the setting ------------------------------------------------------------------------


def comparable(response) -> tuple:
    headers = {k: v for k, v in response.headers.items() if k != "X-Request-ID"}
    return response.status_code, response.content, headers


def test_without_the_setting_the_path_is_an_unknown_path(key):
    body = report_body(key.plaintext)
    headers = GitHubKey.generate("github-key-1").headers(body)
    client = APIClient()

    response = client.post(LEAK_REPORTS_URL, body, content_type="application/json", **headers)
    unknown = client.post("/api/v1/no-such-thing", body, content_type="application/json", **headers)

    assert_error(response, HTTPStatus.NOT_FOUND, "not_found")
    assert comparable(response) == comparable(unknown)
    assert comparable(client.get(LEAK_REPORTS_URL)) == comparable(client.get("/api/v1/nothing"))
    assert get_projects(key.plaintext).status_code == HTTPStatus.OK


def test_without_the_setting_the_schema_has_no_leak_reports(anonymous_client):
    schema = anonymous_client.get(reverse("schema"), HTTP_ACCEPT="application/json")

    assert "/api/v1/leaked-keys" not in schema.content.decode()
