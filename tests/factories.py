import factory
from django.contrib.auth.models import Permission

from apikeys import keys
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
        # Staff in the contract's sense: is_staff plus the users model permissions.
        staff = factory.Trait(is_staff=True)

    @factory.post_generation
    def permissions(self, create: bool, codenames: list[str] | None, **kwargs: object) -> None:
        if create and codenames:
            self.user_permissions.add(
                *Permission.objects.filter(content_type__app_label="users", codename__in=codenames)
            )


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Project {n}")
    description = "A project"


def forged_key(prefix: str | None = None) -> str:
    """A well-formed key with a correct checksum that nobody issued (a fresh prefix unless
    one is given)."""
    return keys.generate(prefix or keys.generate_prefix())
