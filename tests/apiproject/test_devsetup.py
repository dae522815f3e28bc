"""`manage.py devsetup`: the development user, sample projects and a ready-to-paste key."""

import io
import re
from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apikeys.keys import KEY_PATTERN
from projects.models import Project
from tests.kit import found, get_projects, run_command
from users.models import User

pytestmark = pytest.mark.django_db

KEY_IN_CURL_LINE = re.compile(
    rf"^\s*curl .*Authorization: Bearer ({KEY_PATTERN.pattern})\b", re.MULTILINE
)


def devsetup() -> str:
    """Runs devsetup and returns the key from its curl line."""
    return found(KEY_IN_CURL_LINE, run_command("devsetup")[0])


def test_devsetup_refuses_to_run_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError):
        call_command("devsetup", stdout=io.StringIO(), stderr=io.StringIO())

    assert not User.objects.filter(username="dev").exists()


def test_devsetup_creates_the_staff_user_dev(debug):
    devsetup()

    dev = User.objects.get(username="dev")
    assert dev.is_staff
    assert dev.has_perm("users.view_user")
    assert dev.has_perm("users.add_user")


def test_devsetup_creates_sample_projects_for_dev(debug):
    devsetup()

    assert Project.objects.filter(owner__username="dev").exists()


def test_devsetup_curl_line_carries_a_working_key(debug):
    key = devsetup()

    response = get_projects(key)

    assert response.status_code == HTTPStatus.OK
    assert response.json()["total"] == Project.objects.filter(owner__username="dev").count()


def test_devsetup_again_revokes_the_first_key(debug):
    first_key = devsetup()

    devsetup()

    assert get_projects(first_key).status_code == HTTPStatus.UNAUTHORIZED


def test_devsetup_again_prints_a_working_key(debug):
    devsetup()

    second_key = devsetup()

    assert get_projects(second_key).status_code == HTTPStatus.OK


def test_devsetup_again_does_not_duplicate_projects(debug):
    devsetup()
    projects_after_first_run = Project.objects.filter(owner__username="dev").count()

    devsetup()

    assert Project.objects.filter(owner__username="dev").count() == projects_after_first_run
