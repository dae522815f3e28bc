"""An index serves a page of one owner's projects, newest first, without reading other owners' rows
or sorting (docs/api.md, "Pages")."""

import pytest
from django.db import connection

from projects.selectors import project_list
from tests.factories import ProjectFactory, UserFactory


@pytest.fixture
def page_query_plan(db):
    owner = UserFactory()
    for other in UserFactory.create_batch(3):
        ProjectFactory.create_batch(5, owner=other)
    ProjectFactory.create_batch(5, owner=owner)
    page = project_list(owner=owner)[20:40]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Tiny test tables make a sequential scan cheapest; ask what the index can do.
            cursor.execute("SET LOCAL enable_seqscan = off")
            return page.explain()
    return page.explain()


def test_owner_page_is_read_through_the_owner_index(page_query_plan):
    assert "project_owner_newest_idx" in page_query_plan


def test_owner_page_needs_no_sort(page_query_plan):
    # PostgreSQL says "Sort", SQLite "USE TEMP B-TREE FOR ORDER BY" when the index cannot
    # give the order itself.
    assert "Sort" not in page_query_plan
    assert "TEMP B-TREE" not in page_query_plan
