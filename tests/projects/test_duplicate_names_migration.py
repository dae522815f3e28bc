"""The unique name per owner (docs/api.md, "Projects") arrives by a migration that must work on a
database already holding duplicate names: the later duplicates are renamed, nothing is lost."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.migrations import migrate, schema_at

BEFORE = [("projects", "0002_newest_first_index")]
AFTER = [("projects", "0003_owner_name_unique_and_text_rules")]
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def old_schema(transactional_db):
    with schema_at(BEFORE) as apps:
        yield apps


def test_later_duplicates_are_renamed_and_every_project_kept(old_schema):
    User = old_schema.get_model("users", "User")
    Project = old_schema.get_model("projects", "Project")
    alice = User.objects.create(username="alice", email="alice@example.com")
    bob = User.objects.create(username="bob", email="bob@example.com")
    names = ["Apollo", "APOLLO", "apollo", "Apollo (2)", "Gemini"]
    for offset, name in enumerate(names):
        Project.objects.create(owner=alice, name=name, created_at=START + timedelta(days=offset))
    Project.objects.create(owner=bob, name="apollo", created_at=START)
    long_name = "x" * 200
    for offset in range(2):
        Project.objects.create(owner=bob, name=long_name, created_at=START + timedelta(days=offset))

    new_apps = migrate(AFTER)

    projects = new_apps.get_model("projects", "Project").objects.order_by("created_at", "id")
    assert list(projects.filter(owner_id=alice.pk).values_list("name", flat=True)) == [
        "Apollo",
        "APOLLO (3)",  # "Apollo (2)" was taken already
        "apollo (4)",
        "Apollo (2)",
        "Gemini",
    ]
    assert list(projects.filter(owner_id=bob.pk).values_list("name", flat=True)) == [
        "apollo",
        long_name,
        "x" * 196 + " (2)",  # shortened to stay within 200 characters
    ]
