"""How keys are issued, stored, verified and revoked (apikeys.services;
docs/api.md, "Authentication")."""

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apikeys import keys, services
from apikeys.models import APIKey
from apikeys.services import apikey_issue, apikey_revoke
from apikeys.verification import apikey_verify
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

KEY_FORMAT = re.compile(r"^ak_[A-Za-z0-9]{8}_[A-Za-z0-9]{49}$")
RANDOM_PART = slice(len("ak_") + keys.PREFIX_LENGTH + 1, -keys.CHECKSUM_LENGTH)
NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


def replaced(text: str, position: int) -> str:
    """`text` with the character at `position` changed to another base62 character."""
    new = "A" if text[position] != "A" else "B"
    return text[:position] + new + text[position + 1 :]


def with_scripted_prefixes(monkeypatch, prefixes: list[str]) -> list[int]:
    """Make apikey_issue draw `prefixes` first (then fresh ones); returns the prefix draws."""
    real_generate_prefix = keys.generate_prefix
    scripted = iter(prefixes)
    draws: list[int] = []

    def generate_prefix() -> str:
        draws.append(keys.PREFIX_LENGTH)
        return next(scripted, None) or real_generate_prefix()

    monkeypatch.setattr(keys, "generate_prefix", generate_prefix)
    return draws


def test_issued_plaintext_has_the_documented_format(user):
    issued = apikey_issue(owner=user)

    assert KEY_FORMAT.match(issued.plaintext)


def test_issued_plaintext_splits_on_underscore_into_three_parts(user):
    issued = apikey_issue(owner=user)

    scheme, prefix, secret = issued.plaintext.split("_")
    assert (scheme, prefix) == ("ak", issued.api_key.prefix)
    assert len(secret) == keys.RANDOM_LENGTH + keys.CHECKSUM_LENGTH


def test_stored_digest_is_the_sha256_of_the_whole_plaintext(user):
    issued = apikey_issue(owner=user)

    stored = APIKey.objects.get(pk=issued.api_key.pk)
    assert stored.digest == hashlib.sha256(issued.plaintext.encode()).hexdigest()


def test_plaintext_is_stored_in_no_column(user):
    issued = apikey_issue(owner=user)
    secret = issued.plaintext.split("_")[2]

    row = APIKey.objects.filter(pk=issued.api_key.pk).values().get()

    assert set(row) == {field.attname for field in APIKey._meta.concrete_fields}
    for column, value in row.items():
        assert secret not in str(value), column
        assert secret[: keys.RANDOM_LENGTH // 2] not in str(value), column


def test_issue_sets_owner_name_and_expiry(user):
    expires_at = timezone.now() + timedelta(days=30)

    issued = apikey_issue(owner=user, name="ci", expires_at=expires_at)

    stored = APIKey.objects.get(pk=issued.api_key.pk)
    assert (stored.owner, stored.name, stored.expires_at) == (user, "ci", expires_at)


def test_issue_refuses_an_inactive_owner_and_stores_nothing():
    inactive = UserFactory(is_active=False)

    with pytest.raises(ValidationError) as refused:
        apikey_issue(owner=inactive, name="ci")

    assert [error.code for error in refused.value.error_dict["owner"]] == ["inactive_owner"]
    assert not APIKey.objects.exists()


def test_two_issued_keys_differ_in_prefix_and_digest(user):
    first, second = apikey_issue(owner=user), apikey_issue(owner=user)

    assert first.api_key.prefix != second.api_key.prefix
    assert first.api_key.digest != second.api_key.digest


def test_prefix_collision_at_issue_time_is_retried(user, monkeypatch):
    existing = apikey_issue(owner=user)
    draws = with_scripted_prefixes(monkeypatch, [existing.api_key.prefix])

    issued = apikey_issue(owner=user)

    assert len(draws) == 2
    assert issued.api_key.prefix != existing.api_key.prefix
    assert issued.plaintext.split("_")[1] == issued.api_key.prefix
    assert apikey_verify(plaintext=issued.plaintext) == issued.api_key
    assert apikey_verify(plaintext=existing.plaintext) == existing.api_key


def test_persistent_prefix_collision_gives_up_after_issue_attempts(user, monkeypatch):
    existing = apikey_issue(owner=user)
    draws = with_scripted_prefixes(
        monkeypatch, [existing.api_key.prefix] * (services.ISSUE_ATTEMPTS + 1)
    )

    with pytest.raises(RuntimeError):
        apikey_issue(owner=user)

    assert len(draws) == services.ISSUE_ATTEMPTS
    assert APIKey.objects.count() == 1


def test_verify_returns_the_key_for_its_plaintext(user):
    issued = apikey_issue(owner=user)

    assert apikey_verify(plaintext=issued.plaintext) == issued.api_key


def test_verify_loads_the_owner_with_the_key(user, django_assert_num_queries):
    issued = apikey_issue(owner=user)

    verified = apikey_verify(plaintext=issued.plaintext)
    with django_assert_num_queries(0):
        assert verified.owner == user


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"), id="last character"),
        pytest.param(lambda key: key + "A", id="appended character"),
        pytest.param(lambda key: key[:-1], id="truncated"),
        pytest.param(lambda key: key.upper(), id="upper-cased"),
        pytest.param(lambda key: "xk" + key[2:], id="other scheme"),
        pytest.param(lambda key: f" {key}", id="leading space"),
    ],
)
def test_verify_returns_none_for_a_tampered_key(user, tamper):
    issued = apikey_issue(owner=user)

    assert apikey_verify(plaintext=tamper(issued.plaintext)) is None


def test_verify_returns_none_for_a_right_checksum_on_a_wrong_secret(user):
    issued = apikey_issue(owner=user)
    unchecked = issued.plaintext[: -keys.CHECKSUM_LENGTH]
    forged = replaced(unchecked, len(unchecked) - 1)
    forged += keys.checksum(forged)

    assert apikey_verify(plaintext=forged) is None


def test_checksum_detects_any_single_character_change_in_the_random_part(
    user, django_assert_num_queries
):
    plaintext = apikey_issue(owner=user).plaintext
    start, stop, _ = RANDOM_PART.indices(len(plaintext))

    for position in range(start, stop):
        # Refused by the checksum alone: no query is made for it.
        with django_assert_num_queries(0):
            assert apikey_verify(plaintext=replaced(plaintext, position)) is None, position


def test_revoke_returns_true_the_first_time(user):
    issued = apikey_issue(owner=user)

    assert apikey_revoke(api_key=issued.api_key) is True


def test_revoke_returns_false_the_second_time(user):
    issued = apikey_issue(owner=user)
    apikey_revoke(api_key=issued.api_key)

    assert apikey_revoke(api_key=APIKey.objects.get(pk=issued.api_key.pk)) is False


def test_revoking_again_keeps_the_first_revocation_time(user, time_machine):
    time_machine.move_to(NOW, tick=False)
    issued = apikey_issue(owner=user)
    apikey_revoke(api_key=issued.api_key)
    time_machine.move_to(NOW + timedelta(days=1), tick=False)

    apikey_revoke(api_key=APIKey.objects.get(pk=issued.api_key.pk))

    assert APIKey.objects.get(pk=issued.api_key.pk).revoked_at == NOW


def test_revoked_key_no_longer_verifies(user):
    issued = apikey_issue(owner=user)

    apikey_revoke(api_key=issued.api_key)

    assert apikey_verify(plaintext=issued.plaintext) is None


def test_issue_refuses_an_expiry_in_the_past_and_stores_nothing(user):
    with pytest.raises(ValidationError) as refused:
        apikey_issue(owner=user, expires_at=timezone.now() - timedelta(seconds=1))

    assert [error.code for error in refused.value.error_dict["expires_at"]] == ["expired"]
    assert not APIKey.objects.exists()
