"""GET /api/v1/projects (docs/api.md, "Projects" and "Pages", with the query-parameter rules of
"Transport")."""

import re
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from projects.models import Project
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("project-list")
ISO_SECONDS_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
BASE_TIME = datetime(2023, 1, 10, 9, 0, 0, tzinfo=UTC)
LINK_PART = re.compile(r'<([^>]*)>;\s*rel="([^"]+)"')
PROJECT_TABLE = Project._meta.db_table

# Values that are not plain ASCII decimal digits, or out of range for both parameters.
INVALID_INTEGERS = [
    "0",
    "",
    "-1",
    "+1",
    " 1",
    "1 ",
    "1_0",
    "1.0",
    "abc",
    "\u0661",  # ARABIC-INDIC DIGIT ONE
    "\uff11",  # FULLWIDTH DIGIT ONE
]


def make_projects(owner, count, *, start=BASE_TIME):
    """`count` projects of `owner`, one minute apart, oldest first."""
    return [
        ProjectFactory(owner=owner, created_at=start + timedelta(minutes=n)) for n in range(count)
    ]


def newest_first(projects):
    return sorted(projects, key=lambda project: (project.created_at, project.pk), reverse=True)


def api_ids(projects):
    return [f"project-{project.pk}" for project in projects]


def parse_link(header):
    """{rel: (path, {param: [values]})} of an RFC 8288 Link header."""
    links = {}
    for target, rel in LINK_PART.findall(header):
        parts = urlsplit(target)
        assert not parts.scheme
        assert not parts.netloc
        links[rel] = (parts.path, parse_qs(parts.query, keep_blank_values=True))
    return links


def page_link(page, limit):
    return (URL, {"page": [str(page)], "limit": [str(limit)]})


def assert_invalid_parameter(response, name):
    assert response.status_code == HTTPStatus.BAD_REQUEST
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["message"] == "The request was invalid"
    assert re.search(rf"\b{name}\b", error["details"])
    other = {"page": "limit", "limit": "page"}[name]
    assert not re.search(rf"\b{other}\b", error["details"])
    assert list(error["fields"]) == [name]
    assert error["fields"][name]
    assert all(isinstance(message, str) and message for message in error["fields"][name])


# --- Body -----------------------------------------------------------------------------------------


def test_body_has_total_page_limit_and_data(user, user_client):
    ProjectFactory(owner=user)

    response = user_client.get(URL)

    assert response.status_code == HTTPStatus.OK
    assert list(response.json()) == ["total", "page", "limit", "data"]


def test_each_project_has_exactly_id_name_description_created_at(user, user_client):
    project = ProjectFactory(
        owner=user,
        name="My Project",
        description="Project description",
        created_at=datetime(2023, 1, 10, 9, 0, 0, tzinfo=UTC),
    )

    response = user_client.get(URL)

    assert response.json()["data"] == [
        {
            "id": f"project-{project.pk}",
            "name": "My Project",
            "description": "Project description",
            "created_at": "2023-01-10T09:00:00Z",
        }
    ]


def test_created_at_is_whole_seconds_utc_with_z(user, user_client):
    ProjectFactory(owner=user, created_at=datetime(2023, 1, 10, 9, 0, 5, 987654, tzinfo=UTC))

    response = user_client.get(URL)

    created_at = response.json()["data"][0]["created_at"]
    assert created_at == "2023-01-10T09:00:05Z"
    assert ISO_SECONDS_Z.fullmatch(created_at)


def test_project_id_is_project_dash_number(user, user_client):
    project = ProjectFactory(owner=user)

    response = user_client.get(URL)

    assert response.json()["data"][0]["id"] == f"project-{project.pk}"


def test_user_without_projects_gets_an_empty_page(user_client):
    response = user_client.get(URL)

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"total": 0, "page": 1, "limit": 20, "data": []}


# --- Scope ----------------------------------------------------------------------------------------


def test_only_the_key_users_own_projects_are_listed(user, user_client):
    own = make_projects(user, 3)
    make_projects(UserFactory(), 4)

    response = user_client.get(URL)

    body = response.json()
    assert body["total"] == 3
    assert sorted(item["id"] for item in body["data"]) == sorted(api_ids(own))


def test_other_users_projects_never_appear_on_any_page(user, user_client):
    own = make_projects(user, 2)
    others = make_projects(UserFactory(), 5)

    seen = []
    for page in (1, 2, 3):
        seen += [
            item["id"] for item in user_client.get(URL, {"limit": 1, "page": page}).json()["data"]
        ]

    assert sorted(seen) == sorted(api_ids(own))
    assert not set(seen) & set(api_ids(others))


def test_total_counts_only_own_projects_past_the_end(user, user_client):
    make_projects(user, 2)
    make_projects(UserFactory(), 7)

    response = user_client.get(URL, {"page": 5})

    assert response.json()["total"] == 2


# --- Order ----------------------------------------------------------------------------------------


def test_newest_first_by_created_at(user, user_client):
    oldest = ProjectFactory(owner=user, created_at=BASE_TIME)
    newest = ProjectFactory(owner=user, created_at=BASE_TIME + timedelta(days=2))
    middle = ProjectFactory(owner=user, created_at=BASE_TIME + timedelta(days=1))

    response = user_client.get(URL)

    assert [item["id"] for item in response.json()["data"]] == api_ids([newest, middle, oldest])


def test_equal_created_at_is_ordered_by_id_descending(user, user_client):
    same_time = [ProjectFactory(owner=user, created_at=BASE_TIME) for _ in range(4)]
    newer = ProjectFactory(owner=user, created_at=BASE_TIME + timedelta(seconds=1))

    response = user_client.get(URL)

    expected = [newer, *sorted(same_time, key=lambda project: project.pk, reverse=True)]
    assert [item["id"] for item in response.json()["data"]] == api_ids(expected)


def test_walking_all_pages_lists_every_project_once_in_order(user, user_client):
    # Groups of equal created_at straddle page boundaries, so only the id tie-break keeps
    # the order stable from one page query to the next.
    projects = [
        ProjectFactory(owner=user, created_at=BASE_TIME + timedelta(minutes=n // 4))
        for n in range(10)
    ]

    seen = []
    page = 1
    while True:
        body = user_client.get(URL, {"page": page, "limit": 3}).json()
        assert body["total"] == 10
        if not body["data"]:
            break
        seen += [item["id"] for item in body["data"]]
        page += 1

    assert page == 5
    assert seen == api_ids(newest_first(projects))


# --- page and limit -------------------------------------------------------------------------------


def test_defaults_are_page_1_and_limit_20(user, user_client):
    projects = make_projects(user, 25)

    response = user_client.get(URL)

    body = response.json()
    assert (body["total"], body["page"], body["limit"]) == (25, 1, 20)
    assert [item["id"] for item in body["data"]] == api_ids(newest_first(projects))[:20]


def test_limit_selects_the_page_size(user, user_client):
    projects = make_projects(user, 7)

    response = user_client.get(URL, {"page": 2, "limit": 3})

    body = response.json()
    assert (body["total"], body["page"], body["limit"]) == (7, 2, 3)
    assert [item["id"] for item in body["data"]] == api_ids(newest_first(projects))[3:6]


def test_limit_100_is_accepted(user, user_client):
    projects = make_projects(user, 101)

    response = user_client.get(URL, {"limit": 100})

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["limit"] == 100
    assert [item["id"] for item in body["data"]] == api_ids(newest_first(projects))[:100]


def test_limit_1_is_accepted(user, user_client):
    projects = make_projects(user, 2)

    response = user_client.get(URL, {"limit": 1})

    assert response.status_code == HTTPStatus.OK
    assert [item["id"] for item in response.json()["data"]] == api_ids(newest_first(projects))[:1]


@pytest.mark.parametrize("limit", ["101", "0", "500"])
def test_limit_out_of_range_is_refused(user_client, limit):
    response = user_client.get(URL, {"limit": limit})

    assert_invalid_parameter(response, "limit")


@pytest.mark.parametrize("value", INVALID_INTEGERS)
def test_page_that_is_not_a_positive_plain_integer_is_refused(user_client, value):
    response = user_client.get(URL, {"page": value})

    assert_invalid_parameter(response, "page")


@pytest.mark.parametrize("value", INVALID_INTEGERS)
def test_limit_that_is_not_a_plain_integer_in_range_is_refused(user_client, value):
    response = user_client.get(URL, {"limit": value})

    assert_invalid_parameter(response, "limit")


def test_page_with_leading_zeros_is_accepted(user_client):
    response = user_client.get(URL, {"page": "007"})

    assert response.status_code == HTTPStatus.OK
    assert response.json()["page"] == 7


def test_limit_with_leading_zeros_is_accepted(user, user_client):
    make_projects(user, 6)

    response = user_client.get(URL, {"limit": "005"})

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["limit"] == 5
    assert len(body["data"]) == 5


def test_repeated_parameter_last_value_counts(user, user_client):
    make_projects(user, 6)

    response = user_client.get(f"{URL}?limit=5&limit=2")

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["limit"] == 2
    assert len(body["data"]) == 2


def test_repeated_parameter_with_a_bad_last_value_is_refused(user_client):
    response = user_client.get(f"{URL}?page=2&page=abc")

    assert_invalid_parameter(response, "page")


def test_page_and_limit_both_bad_details_names_page_and_fields_lists_both(user_client):
    response = user_client.get(URL, {"limit": "abc", "page": "0"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert re.search(r"\bpage\b", error["details"])
    assert not re.search(r"\blimit\b", error["details"])
    assert set(error["fields"]) == {"page", "limit"}
    assert error["fields"]["page"]
    assert error["fields"]["limit"]


# --- Past the end ---------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["3", "1000000000000000000", "99999999999999999999999"])
def test_page_past_the_end_is_empty_with_the_true_total(user, user_client, page):
    make_projects(user, 4)
    make_projects(UserFactory(), 3)

    response = user_client.get(URL, {"page": page, "limit": 2})

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"total": 4, "page": int(page), "limit": 2, "data": []}


@pytest.mark.parametrize("page", ["3", "1000000000000000000", "99999999999999999999999"])
def test_page_past_the_end_selects_no_rows(user, user_client, page):
    make_projects(user, 4)

    with CaptureQueriesContext(connection) as queries:
        response = user_client.get(URL, {"page": page, "limit": 2})

    assert response.status_code == HTTPStatus.OK
    # The key lookup, possibly the last_used_at refresh, and the total: nothing else. The
    # total is the one the database keeps per owner: no row of the project table is read.
    assert len(queries) <= 3
    assert [q["sql"] for q in queries if PROJECT_TABLE in q["sql"]] == []


def test_page_past_the_end_makes_only_auth_update_and_count_queries(
    user, user_client, django_assert_max_num_queries
):
    make_projects(user, 4)

    with django_assert_max_num_queries(3):
        response = user_client.get(URL, {"page": "1000000000000000000"})

    assert response.status_code == HTTPStatus.OK


# --- Link header ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("projects", "query", "expected"),
    [
        (10, {"page": 1, "limit": 3}, {"first": 1, "next": 2, "last": 4}),
        (10, {"page": 2, "limit": 3}, {"first": 1, "prev": 1, "next": 3, "last": 4}),
        (10, {"page": 4, "limit": 3}, {"first": 1, "prev": 3, "last": 4}),
        (10, {"page": 9, "limit": 3}, {"first": 1, "prev": 4, "last": 4}),
        (10, {"page": "1000000000000000000", "limit": 3}, {"first": 1, "prev": 4, "last": 4}),
        (0, {}, {"first": 1, "last": 1}),
        (41, {}, {"first": 1, "next": 2, "last": 3}),
    ],
    ids=[
        "first page",
        "middle page",
        "last page",
        "past the end: prev is the last page",
        "far past the end",
        "no projects: last page is 1",
        "the default limit",
    ],
)
def test_link_header(user, user_client, projects, query, expected):
    make_projects(user, projects)
    limit = query.get("limit", 20)

    response = user_client.get(URL, query)

    assert parse_link(response["Link"]) == {
        rel: page_link(page, limit) for rel, page in expected.items()
    }


def test_link_header_is_a_list_of_relative_urls(user, user_client):
    make_projects(user, 10)

    response = user_client.get(URL, {"page": 2, "limit": 3})

    parts = [part.strip() for part in response["Link"].split(",")]
    assert len(parts) == 4
    assert all(LINK_PART.fullmatch(part) for part in parts)
    assert all(LINK_PART.fullmatch(part).group(1).startswith("/api/v1/projects?") for part in parts)


# --- Cost -----------------------------------------------------------------------------------------


def test_query_count_is_the_same_at_limit_1_and_limit_100(
    user, user_client, django_assert_max_num_queries
):
    make_projects(user, 150)
    make_projects(UserFactory(), 30)

    # A frozen clock: the first request refreshes last_used_at, the measured ones cannot.
    with time_machine.travel(datetime(2024, 6, 1, 12, 0, tzinfo=UTC), tick=False):
        user_client.get(URL)
        with CaptureQueriesContext(connection) as at_limit_1:
            assert user_client.get(URL, {"limit": 1}).status_code == HTTPStatus.OK
        with CaptureQueriesContext(connection) as at_limit_100:
            assert user_client.get(URL, {"limit": 100, "page": 2}).status_code == HTTPStatus.OK

    assert len(at_limit_1) == len(at_limit_100)
    # The key lookup, at most one last_used_at update, the count and the page.
    with django_assert_max_num_queries(4):
        user_client.get(URL, {"limit": 100})


def test_first_request_with_a_fresh_key_stays_within_four_queries(
    user, user_client, django_assert_max_num_queries
):
    make_projects(user, 30)

    with django_assert_max_num_queries(4):
        response = user_client.get(URL, {"limit": 100})

    assert len(response.json()["data"]) == 30
