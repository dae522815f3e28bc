"""The OpenAPI document (/api/schema): valid, and carrying what every operation shares from
the one schema class (apiproject.api.schema.APIAutoSchema)."""

import io

import pytest
import yaml
from django.core.management import call_command

METHODS = {"get", "post", "patch", "put", "delete"}


@pytest.fixture(scope="module")
def schema() -> dict:
    output = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=output)
    return yaml.safe_load(output.getvalue())


def operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_the_schema_validates_without_a_warning(schema):
    assert len(operations(schema)) == 13


def test_every_operation_documents_the_shared_errors_and_rate_limit_headers(schema):
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        assert {"401", "406", "429"} <= set(responses), (path, method)
        for status, response in responses.items():
            # 401 and 406 are answered before a key is counted (contract section 6).
            if status not in {"401", "406"}:
                assert "X-RateLimit-Remaining" in response.get("headers", {}), (path, status)
        assert "Retry-After" in responses["429"]["headers"]


def test_every_post_takes_an_idempotency_key_and_documents_its_answers(schema):
    posts = [
        (path, operation) for path, method, operation in operations(schema) if method == "post"
    ]
    assert [path for path, _ in posts] == [
        "/api/v1/keys",
        "/api/v1/keys/{key_id}/roll",
        "/api/v1/projects",
        "/api/v1/users",
    ]
    for path, operation in posts:
        headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
        assert headers == ["Idempotency-Key"], path
        assert {"409", "422"} <= set(operation["responses"]), path
        assert "Idempotent-Replayed" in operation["responses"]["201"]["headers"], path


def test_no_other_operation_takes_an_idempotency_key(schema):
    for path, method, operation in operations(schema):
        if method != "post":
            names = [p["name"] for p in operation.get("parameters", [])]
            assert "Idempotency-Key" not in names, (path, method)
            assert "422" not in operation["responses"], (path, method)


@pytest.mark.parametrize("component", ["UserCreate", "ProjectWrite", "PatchedProjectWrite"])
def test_request_bodies_refuse_unknown_fields(schema, component):
    assert schema["components"]["schemas"][component]["additionalProperties"] is False


def test_project_ids_in_paths_have_their_pattern(schema):
    parameters = schema["paths"]["/api/v1/projects/{project_id}"]["get"]["parameters"]
    (project_id,) = [p for p in parameters if p["name"] == "project_id"]
    assert project_id["schema"]["pattern"] == "^project-[0-9]+$"
