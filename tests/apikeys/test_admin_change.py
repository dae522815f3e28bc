"""A key's change page in admin: name, expiry and rate limit edited through the services'
rules, nothing else; and what happens when another request revokes or uses the key meanwhile."""

import threading
from collections.abc import Callable
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import connection
from django.utils import timezone

from apikeys.admin import APIKeyAdmin
from apikeys.events import OPERATOR
from apikeys.models import APIKey
from apikeys.services import apikey_roll
from tests.apikeys.admin_pages import (
    EARLIER_REVOCATION,
    EXPIRY,
    EXPIRY_FIELDS,
    LAST_USED,
    change_form,
    change_url,
    messages_of,
    read_only_values,
    revoked_by_another_request,
    used_against_the_api,
)
from tests.factories import APIKeyFactory, UserFactory
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def while_saving(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[APIKey], None]], None]:
    """Makes `meanwhile(key)` happen after a change POST loaded the key and checked
    permissions, just before the admin saves it: in another request's thread, database
    connection and transaction (the tests that use it commit their data: transaction=True; on
    PostgreSQL, since SQLite lets one writer at a time, so another request could not change
    the key while the admin's transaction is open)."""

    def install(meanwhile: Callable[[APIKey], None]) -> None:
        original_save_model = APIKeyAdmin.save_model

        def save_model(self, request, obj, form, change):
            in_another_request(lambda: meanwhile(obj))
            original_save_model(self, request, obj, form, change)

        monkeypatch.setattr(APIKeyAdmin, "save_model", save_model)

    return install


def in_another_request(work: Callable[[], None]) -> None:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # shown by the test, not lost in the thread
            failures.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not failures, failures


@pytest.fixture
def revoked_while_saving(superuser: User, while_saving) -> None:
    """Another request of the superuser's revokes the key while a change POST saves it."""
    while_saving(lambda api_key: revoked_by_another_request(api_key, superuser))


def test_change_page_shows_the_prefix_read_only(superuser_client, api_key):
    response = superuser_client.get(change_url(api_key))

    assert read_only_values(response)["prefix"] == api_key.prefix
    assert 'name="prefix"' not in response.content.decode()


def test_change_page_never_shows_the_digest(superuser_client, api_key):
    content = superuser_client.get(change_url(api_key)).content.decode()

    assert api_key.digest not in content
    assert 'name="digest"' not in content
    assert "field-digest" not in content


def test_change_page_edits_name_expiry_and_rate_limit(superuser_client, api_key):
    response = superuser_client.post(
        change_url(api_key),
        change_form(api_key, name="renamed", rate_limit="250/m", **EXPIRY_FIELDS),
    )

    assert response.status_code == HTTPStatus.FOUND
    api_key.refresh_from_db()
    assert (api_key.name, api_key.expires_at, api_key.rate_limit) == (
        "renamed",
        EXPIRY,
        "250/m",
    )


def test_change_page_clears_the_rate_limit_to_the_default(superuser_client, owner):
    api_key = APIKeyFactory(owner=owner, rate_limit="250/m")

    response = superuser_client.post(change_url(api_key), change_form(api_key, rate_limit=""))

    assert response.status_code == HTTPStatus.FOUND
    api_key.refresh_from_db()
    assert api_key.rate_limit is None


def test_change_with_a_bad_rate_limit_is_a_form_error_and_saves_nothing(superuser_client, api_key):
    response = superuser_client.post(
        change_url(api_key), change_form(api_key, name="renamed", rate_limit="100/")
    )

    assert response.status_code == HTTPStatus.OK
    assert "rate_limit" in response.context["adminform"].form.errors
    api_key.refresh_from_db()
    assert (api_key.name, api_key.rate_limit) == ("deploy", None)


@pytest.mark.parametrize("rate", ["0/m", "1000001/m", "5/s", "abc"])
def test_change_refuses_a_rate_limit_outside_1_to_1000000_per_minute(
    superuser_client, api_key, rate
):
    response = superuser_client.post(change_url(api_key), change_form(api_key, rate_limit=rate))

    assert response.status_code == HTTPStatus.OK
    assert "rate_limit" in response.context["adminform"].form.errors
    api_key.refresh_from_db()
    assert api_key.rate_limit is None


def test_change_cannot_move_a_key_to_another_owner(superuser_client, api_key):
    other = UserFactory()

    superuser_client.post(change_url(api_key), {**change_form(api_key), "owner": other.pk})

    api_key.refresh_from_db()
    assert api_key.owner.username == "alice"


def test_change_post_leaves_a_key_revoked_between_get_and_post_revoked(
    superuser_client, superuser, api_key
):
    superuser_client.get(change_url(api_key))
    revoked_by_another_request(api_key, superuser)

    superuser_client.post(change_url(api_key), change_form(api_key, name="renamed"))

    api_key.refresh_from_db()
    assert (api_key.revoked_at, api_key.revoked_by) == (EARLIER_REVOCATION, superuser)


@pytest.fixture
def configured_key(owner: User) -> APIKey:
    """An active key with a name, an expiry and a rate limit of its own."""
    return APIKeyFactory(owner=owner, name="deploy", expires_at=EXPIRY, rate_limit="250/m")


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_change_post_on_a_key_revoked_while_it_saves_changes_nothing(
    superuser_client, superuser, configured_key, revoked_while_saving
):
    superuser_client.post(
        change_url(configured_key),
        change_form(
            configured_key,
            name="renamed",
            rate_limit="500/m",
            expires_at_0="2032-01-01",
            expires_at_1="00:00:00",
        ),
    )

    configured_key.refresh_from_db()
    assert (configured_key.name, configured_key.expires_at, configured_key.rate_limit) == (
        "deploy",
        EXPIRY,
        "250/m",
    )
    assert (configured_key.revoked_at, configured_key.revoked_by) == (
        EARLIER_REVOCATION,
        superuser,
    )


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_change_post_on_a_key_revoked_while_it_saves_redirects_saying_nothing_changed(
    superuser_client, api_key, revoked_while_saving
):
    response = superuser_client.post(change_url(api_key), change_form(api_key, name="renamed"))

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == change_url(api_key)
    shown = messages_of(superuser_client.get(response["Location"]))
    assert shown == [
        f"Key {api_key.prefix} was revoked, rolled or expired meanwhile: nothing was changed."
    ]


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_change_post_on_a_key_revoked_while_it_saves_logs_no_change(
    superuser_client, api_key, revoked_while_saving
):
    superuser_client.post(change_url(api_key), change_form(api_key, name="renamed"))

    # The admin log must not record a change that was not made.
    assert list(LogEntry.objects.filter(action_flag=CHANGE).values("change_message")) == []


def test_change_post_keeps_last_used_at_written_between_get_and_post(superuser_client, api_key):
    superuser_client.get(change_url(api_key))
    used_against_the_api(api_key)

    response = superuser_client.post(change_url(api_key), change_form(api_key, name="renamed"))

    assert response.status_code == HTTPStatus.FOUND
    api_key.refresh_from_db()
    assert (api_key.name, api_key.last_used_at) == ("renamed", LAST_USED)


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_change_post_keeps_last_used_at_written_while_it_saves(
    superuser_client, api_key, while_saving
):
    # The admin loaded its own copy of the key: the one with the plaintext is the test's.
    while_saving(lambda _loaded: used_against_the_api(api_key))

    response = superuser_client.post(change_url(api_key), change_form(api_key, name="renamed"))

    assert response.status_code == HTTPStatus.FOUND
    api_key.refresh_from_db()
    assert (api_key.name, api_key.last_used_at) == ("renamed", LAST_USED)


# --- Ended keys stay ended ------------------------------------------------------------------------

LATER_EXPIRY_FIELDS = {"expires_at_0": "2040-01-01", "expires_at_1": "00:00:00"}


def rolled(api_key: APIKey, *, grace: timedelta) -> APIKey:
    """`api_key` rolled with this grace period (by itself, as its user would)."""
    apikey_roll(api_key=api_key, issuer=api_key, grace=grace, source=OPERATOR)
    api_key.refresh_from_db()
    return api_key


@pytest.mark.parametrize("ended", ["expired", "revoked", "rolled_past_its_grace"])
def test_an_ended_key_cannot_be_brought_back_by_a_later_expiry(superuser_client, owner, ended):
    if ended == "rolled_past_its_grace":
        api_key = rolled(APIKeyFactory(owner=owner), grace=timedelta(0))
    else:
        api_key = APIKeyFactory(owner=owner, **{ended: True})
    before = (api_key.expires_at, api_key.revoked_at)

    response = superuser_client.post(
        change_url(api_key), change_form(api_key, name="back", **LATER_EXPIRY_FIELDS)
    )

    assert response.status_code == HTTPStatus.FORBIDDEN  # its page is read-only
    api_key.refresh_from_db()
    assert (api_key.expires_at, api_key.revoked_at, api_key.name) == (*before, api_key.name)
    assert api_key.status != APIKey.Status.ACTIVE


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_key_that_expired_since_the_form_was_shown_is_not_brought_back(
    superuser_client, owner, while_saving
):
    api_key = APIKeyFactory(owner=owner)
    ended_at = timezone.now() - timedelta(seconds=1)
    while_saving(lambda _: APIKey.objects.filter(pk=api_key.pk).update(expires_at=ended_at))

    response = superuser_client.post(
        change_url(api_key), change_form(api_key, **LATER_EXPIRY_FIELDS)
    )

    assert response.status_code == HTTPStatus.FOUND
    api_key.refresh_from_db()
    assert api_key.expires_at == ended_at


def test_a_rolled_key_in_its_grace_cannot_have_it_extended(superuser_client, owner):
    api_key = rolled(APIKeyFactory(owner=owner), grace=timedelta(hours=1))
    grace_ends = api_key.expires_at

    response = superuser_client.post(
        change_url(api_key), change_form(api_key, **LATER_EXPIRY_FIELDS)
    )

    assert response.status_code == HTTPStatus.OK
    errors = response.context["adminform"].form.errors["expires_at"]
    assert errors == [
        f"This key was rolled: its grace period ends at {grace_ends:%Y-%m-%d %H:%M:%S} UTC "
        "and can only be shortened."
    ]
    api_key.refresh_from_db()
    assert api_key.expires_at == grace_ends


def test_a_rolled_key_in_its_grace_cannot_lose_its_expiry(superuser_client, owner):
    api_key = rolled(APIKeyFactory(owner=owner), grace=timedelta(hours=1))

    response = superuser_client.post(change_url(api_key), change_form(api_key))

    assert response.status_code == HTTPStatus.OK
    api_key.refresh_from_db()
    assert api_key.expires_at is not None


def test_a_rolled_key_in_its_grace_may_end_earlier(superuser_client, owner):
    api_key = rolled(APIKeyFactory(owner=owner), grace=timedelta(hours=1))
    earlier = (api_key.expires_at - timedelta(minutes=30)).replace(microsecond=0)

    response = superuser_client.post(
        change_url(api_key),
        change_form(
            api_key,
            expires_at_0=earlier.strftime("%Y-%m-%d"),
            expires_at_1=earlier.strftime("%H:%M:%S"),
        ),
    )

    assert response.status_code == HTTPStatus.FOUND
    api_key.refresh_from_db()
    assert api_key.expires_at == earlier


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_key_rolled_since_the_form_was_shown_keeps_its_grace(
    superuser_client, owner, while_saving
):
    api_key = APIKeyFactory(owner=owner)
    # A copy of its own, as another request has: the admin's is already changed by the form.
    while_saving(lambda _: rolled(APIKey.objects.get(pk=api_key.pk), grace=timedelta(hours=1)))

    response = superuser_client.post(
        change_url(api_key), change_form(api_key, **LATER_EXPIRY_FIELDS)
    )

    assert response.status_code == HTTPStatus.FOUND
    assert messages_of(superuser_client.get(response["Location"])) == [
        f"Key {api_key.prefix} was revoked, rolled or expired meanwhile: nothing was changed."
    ]
    api_key.refresh_from_db()
    assert api_key.expires_at < timezone.now() + timedelta(hours=2)
