"""What holds for every list page of the admin (docs/admin.md, "Static files and list costs"): its
cost does not grow with the rows it shows, and a searched list is counted once (no second count of
the whole table). Each list's own columns, order and search are tested beside its app."""

from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

import pytest
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import APIKeyFactory, ProjectFactory, UserFactory
from tests.kit import changelist, count_statements

pytestmark = pytest.mark.django_db

FEW, MANY = 3, 30


@dataclass(frozen=True)
class AdminList:
    url: str
    make: Callable[[int], object]  # makes that many rows, each with an owner of its own
    also_listed: int  # rows listed besides the ones made (the superuser, in the user list)
    # Makes two rows of which one matches a search; returns (the search, that row).
    one_of_two_found: Callable[[], tuple[str, Model]]


def apollo_not_gemini() -> tuple[str, Model]:
    alice = UserFactory(username="alice")
    apollo = ProjectFactory(owner=alice, name="Apollo")
    ProjectFactory(owner=alice, name="Gemini")
    return "apollo", apollo


def alice_not_bob() -> tuple[str, Model]:
    alice = UserFactory(username="alice")
    UserFactory(username="bob")
    return "ali", alice


def one_key_by_its_prefix() -> tuple[str, Model]:
    wanted = APIKeyFactory(owner=UserFactory(username="alice"))
    APIKeyFactory(owner=UserFactory(username="bob"))
    return wanted.prefix, wanted


ADMIN_LISTS = {
    "users": AdminList(
        url=reverse("admin:users_user_changelist"),
        make=UserFactory.create_batch,
        also_listed=1,
        one_of_two_found=alice_not_bob,
    ),
    "projects": AdminList(
        url=reverse("admin:projects_project_changelist"),
        make=ProjectFactory.create_batch,
        also_listed=0,
        one_of_two_found=apollo_not_gemini,
    ),
    "API keys": AdminList(
        url=reverse("admin:apikeys_apikey_changelist"),
        make=APIKeyFactory.create_batch,
        also_listed=0,
        one_of_two_found=one_key_by_its_prefix,
    ),
}


@pytest.fixture(params=list(ADMIN_LISTS))
def admin_list(request: pytest.FixtureRequest) -> AdminList:
    return ADMIN_LISTS[request.param]


def test_list_page_query_count_does_not_grow_with_its_rows(
    superuser_client, admin_list, django_assert_max_num_queries
):
    admin_list.make(FEW)
    superuser_client.get(admin_list.url)  # warm up caches that live past one request
    with CaptureQueriesContext(connection) as few:
        response = superuser_client.get(admin_list.url)
    assert len(changelist(response).objects) == FEW + admin_list.also_listed
    admin_list.make(MANY - FEW)

    with django_assert_max_num_queries(len(few)):
        response = superuser_client.get(admin_list.url)

    assert len(changelist(response).objects) == MANY + admin_list.also_listed


def test_searched_list_page_runs_one_count_not_a_second_over_the_whole_table(
    superuser_client, admin_list
):
    search, found = admin_list.one_of_two_found()

    with CaptureQueriesContext(connection) as queries:
        response = superuser_client.get(admin_list.url, {"q": search})

    assert response.status_code == HTTPStatus.OK
    assert changelist(response).objects == [found]
    # The paginator's count of the matching rows; a full-result count would be a second.
    assert len(count_statements(queries)) == 1, count_statements(queries)
    assert response.context["cl"].result_count == 1
    assert "Show all" in response.content.decode()
    assert " total</a>" not in response.content.decode()
