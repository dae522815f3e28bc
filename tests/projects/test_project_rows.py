"""The hot reads of projects (projects.rows, projects.representations) answer exactly what the
ORM selectors and ProjectSerializer (what the OpenAPI document describes) would."""

from datetime import UTC, datetime, timedelta

import pytest

from projects.representations import project_representation, project_representation_of_row
from projects.rows import project_row, project_rows_of
from projects.selectors import project_get, project_list
from projects.serializers import ProjectSerializer
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

START = datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


@pytest.fixture
def projects(user):
    made = [
        ProjectFactory(owner=user, created_at=START + timedelta(seconds=n // 2), description=d)
        for n, d in enumerate(["", "two\nlines", "tab\there", "ünïcode", "x" * 500])
    ]
    ProjectFactory.create_batch(3, owner=UserFactory())
    return made


@pytest.mark.parametrize(("start", "stop"), [(0, 2), (2, 4), (4, 20), (0, 100)])
def test_a_page_of_rows_is_the_orm_page_serialized(user, projects, start, stop):
    rows = project_rows_of(owner=user)[start:stop]

    expected = ProjectSerializer(project_list(owner=user)[start:stop], many=True).data
    assert [project_representation_of_row(row) for row in rows] == expected


def test_the_rows_count_is_the_owners_total(user, projects):
    assert project_rows_of(owner=user).count() == len(projects)
    assert project_rows_of(owner=UserFactory()).count() == 0


@pytest.mark.parametrize(
    "spelling", ["project-{pk}", "project-0{pk}", "project-{pk}0000000000000000000", "{pk}"]
)
def test_one_row_is_what_project_get_finds(user, projects, spelling):
    project_id = spelling.format(pk=projects[1].pk)

    row = project_row(owner=user, project_id=project_id)
    found = project_get(owner=user, project_id=project_id)

    if found is None:
        assert row is None
    else:
        assert project_representation_of_row(row) == ProjectSerializer(found).data


def test_another_owners_project_is_no_row(projects):
    assert project_row(owner=UserFactory(), project_id=f"project-{projects[0].pk}") is None


def test_a_representation_is_the_serializers(projects):
    for project in projects:
        assert project_representation(project) == ProjectSerializer(project).data
