"""GET /users/me and one's own id answer from the key's user, in exactly the shape UserSerializer
(what POST /users answers with and the OpenAPI document describes) gives."""

from datetime import UTC, datetime
from http import HTTPStatus

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import UserFactory
from users.representations import user_representation
from users.serializers import UserSerializer

pytestmark = pytest.mark.django_db


def test_a_representation_is_the_serializers():
    user = UserFactory(date_joined=datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC))

    assert user_representation(user=user) == UserSerializer(user).data


def test_ones_own_id_makes_no_query_beyond_the_keys_own(user, user_client):
    user_client.get(reverse("user-me"))  # last_used_at is written once a minute

    with CaptureQueriesContext(connection) as queries:
        response = user_client.get(reverse("user-detail", args=[user.pk]))

    assert response.status_code == HTTPStatus.OK
    assert response.json() == UserSerializer(user).data
    # The key joined to its user, or nothing once its record is cached (with Redis).
    assert len(queries) <= 1
    assert not [q for q in queries if "apikeys_apikey" not in q["sql"]]
