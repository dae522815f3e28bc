from datetime import datetime, timedelta

import factory
import time_machine
from django.contrib.auth.models import Permission
from django.utils import timezone

from apikeys import keys
from apikeys.events import OPERATOR, KeyChangeSource
from apikeys.models import APIKey, KeyEvent
from apikeys.services import apikey_issue, apikey_revoke
from projects.models import Project
from users.models import User

DEFAULT_PASSWORD = "a-Long-test-passw0rd"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password(DEFAULT_PASSWORD)

    class Params:
        # Staff as the API's rules mean it (docs/api.md, "Authentication"): is_staff plus the
        # users model permissions.
        staff = factory.Trait(is_staff=True)

    @factory.post_generation
    def permissions(self, create: bool, names: list[str] | None, **kwargs: object) -> None:
        """`permissions=[...]`: exactly these, each a users codename or an `app.codename`."""
        if create and names:
            self.user_permissions.add(*(permission(name) for name in names))


def permission(name: str) -> Permission:
    """The permission `codename` of the users app, or `app.codename` of any app."""
    app_label, _, codename = name.rpartition(".")
    return Permission.objects.get(content_type__app_label=app_label or "users", codename=codename)


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Project {n}")
    description = "A project"


class APIKeyFactory(factory.Factory):
    """An API key issued through `apikey_issue`, as the admin and `createapikey` issue them
    (never a row written by hand): the APIKey, with the plaintext that issuing showed once
    as `.plaintext`.

    `issued_at` sets the clock for issuing (and revoking): the key's `created_at` is then.
    Traits: `revoked` (through `apikey_revoke`, by `revoked_by`), `expired` (see below).
    """

    class Meta:
        model = APIKey

    owner = factory.SubFactory(UserFactory)
    name = ""
    expires_at = None
    rate_limit = None
    issued_at = None
    revoke = False
    revoked_by = None

    class Params:
        revoked = factory.Trait(revoke=True)
        # Issued two days ago with a one-day expiry: no path issues a key that is expired
        # already (`createapikey --expires-in` is at least a day), so the key was valid when
        # issued and time has passed, as for any expired key. Nothing else changes the clock:
        # it reads now again once the key is issued.
        expired = factory.Trait(
            issued_at=factory.LazyFunction(lambda: timezone.now() - timedelta(days=2)),
            expires_at=factory.LazyAttribute(lambda key: key.issued_at + timedelta(days=1)),
        )

    @classmethod
    def _build(cls, model_class: type[APIKey], *args: object, **kwargs: object) -> APIKey:
        raise TypeError("A key exists only once apikey_issue made it: use APIKeyFactory()")

    @classmethod
    def _create(
        cls,
        model_class: type[APIKey],
        *,
        issued_at: datetime | None,
        revoke: bool,
        revoked_by: User | None,
        **fields: object,
    ) -> APIKey:
        if issued_at is None:
            return cls._issue(revoke=revoke, revoked_by=revoked_by, **fields)
        with time_machine.travel(issued_at, tick=False):
            return cls._issue(revoke=revoke, revoked_by=revoked_by, **fields)

    @staticmethod
    def _issue(*, revoke: bool, revoked_by: User | None, **fields: object) -> APIKey:
        issued = apikey_issue(**fields)
        api_key = issued.api_key
        if revoke:
            apikey_revoke(api_key=api_key, source=acting(revoked_by))
        api_key.plaintext = issued.plaintext
        return api_key


def acting(actor: User | None) -> KeyChangeSource:
    """A key service's `source` for `actor` in the admin (None: the operator's command)."""
    return OPERATOR if actor is None else KeyChangeSource(via=KeyEvent.Via.ADMIN, actor=actor)


def forged_key(prefix: str | None = None) -> str:
    """A well-formed key with a correct checksum that nobody issued (a fresh prefix unless
    one is given)."""
    return keys.generate(prefix or keys.generate_prefix())
