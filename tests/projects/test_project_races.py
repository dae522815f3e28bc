"""The project rules (docs/api.md, "Projects") under concurrency, on PostgreSQL: the per-owner
unique name and the project cap hold when requests arrive at the same moment."""

from http import HTTPStatus

import pytest
from django.urls import reverse

from projects.models import Project
from tests.concurrency import simultaneously
from tests.factories import APIKeyFactory, ProjectFactory

LIST_URL = reverse("project-list")
ROUNDS = 5

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def create(name: str):
    return lambda client: client.post(LIST_URL, {"name": name}, format="json").status_code


def test_two_simultaneous_creates_of_one_name_make_one_project(user):
    plaintext_key = APIKeyFactory(owner=user).plaintext

    for round_number in range(ROUNDS):
        name = f"Racer {round_number}"
        # Exactly the same name, then the same name in another case, by turns.
        rival = name if round_number % 2 == 0 else name.upper()

        outcomes = simultaneously(plaintext_key, [create(name), create(rival)])

        assert sorted(outcomes, key=str) == [HTTPStatus.CREATED, HTTPStatus.BAD_REQUEST]
        assert Project.objects.filter(owner=user, name__iexact=name).count() == 1


@pytest.mark.parametrize("owned", [4, 5])
def test_twenty_simultaneous_creates_never_pass_the_cap(user, settings, owned):
    settings.API_PROJECTS_PER_USER = 5
    ProjectFactory.create_batch(owned, owner=user)
    plaintext_key = APIKeyFactory(owner=user).plaintext

    outcomes = simultaneously(plaintext_key, [create(f"Extra {n}") for n in range(20)])

    created = outcomes.count(HTTPStatus.CREATED)
    assert created == 5 - owned
    assert outcomes.count(HTTPStatus.BAD_REQUEST) == 20 - created, outcomes
    assert Project.objects.filter(owner=user).count() == 5
