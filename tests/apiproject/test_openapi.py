"""The OpenAPI document (/api/schema): valid, and carrying what every operation shares from
the one schema class (apiproject.api.schema.APIAutoSchema). Generated with leak reports on,
so that it holds every operation (docs/api.md, "Leak reports")."""

import io

import pytest
import yaml
from django.core.management import call_command

from tests.kit import GitHubKey, github_keys_json, leak_reports_enabled

METHODS = {"get", "post", "patch", "put", "delete"}
LEAK_REPORTS = ("/api/v1/leaked-keys", "post")


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict:
    keys_file = tmp_path_factory.mktemp("leak-reports") / "github-keys.json"
    keys_file.write_text(github_keys_json(GitHubKey.generate("github-key-1")))
    output = io.StringIO()
    with leak_reports_enabled(keys_file):
        call_command("spectacular", "--validate", "--fail-on-warn", stdout=output)
    return yaml.safe_load(output.getvalue())


def operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def key_operations(schema: dict) -> list[tuple[str, str, dict]]:
    """Every operation called with an API key: all but the leak reports, which GitHub signs."""
    return [
        (path, method, operation)
        for path, method, operation in operations(schema)
        if operation.get("security") != []
    ]


def test_the_schema_validates_without_a_warning(schema):
    assert len(operations(schema)) == 16
    assert len(key_operations(schema)) == 15


def test_every_operation_documents_the_shared_errors_and_rate_limit_headers(schema):
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        assert {"401", "406", "429", "500", "503"} <= set(responses), (path, method)
        if method in {"post", "patch"}:
            assert "411" in responses, (path, method)
        assert "Retry-After" in responses["429"]["headers"]
    for path, _method, operation in key_operations(schema):
        for status, response in operation["responses"].items():
            # 401 and 406 are answered before a key is counted (docs/api.md, "Rate limiting");
            # a 500 or 503 may come before the count too.
            if status not in {"401", "406", "500", "503"}:
                assert "X-RateLimit-Remaining" in response.get("headers", {}), (path, status)


def test_leak_reports_need_no_key_and_count_against_none(schema):
    operation = schema["paths"]["/api/v1/leaked-keys"]["post"]
    responses = operation["responses"]

    assert operation["security"] == []
    assert "x-required-scope" not in operation
    assert set(responses) == {"200", "400", "401", "406", "411", "413", "415", "429", "500", "503"}
    for response in responses.values():
        assert "X-RateLimit-Remaining" not in response.get("headers", {})
    assert "WWW-Authenticate" in responses["401"]["headers"]
    headers = [(p["name"], p["required"]) for p in operation["parameters"] if p["in"] == "header"]
    assert headers == [
        ("Github-Public-Key-Identifier", True),
        ("Github-Public-Key-Signature", True),
    ]


def test_leak_reports_document_the_report_and_the_verdicts(schema):
    operation = schema["paths"]["/api/v1/leaked-keys"]["post"]
    components = schema["components"]["schemas"]

    body = operation["requestBody"]["content"]["application/json"]["schema"]
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert body == {"type": "array", "items": {"$ref": "#/components/schemas/ReportedToken"}}
    assert answer == {"type": "array", "items": {"$ref": "#/components/schemas/LeakVerdict"}}
    assert components["ReportedToken"]["required"] == ["token", "type"]
    assert set(components["LeakVerdict"]["required"]) == {"token_raw", "token_type", "label"}


def test_every_post_takes_an_idempotency_key_and_documents_its_answers(schema):
    posts = [
        (path, operation) for path, method, operation in key_operations(schema) if method == "post"
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
        if method != "post" or (path, method) == LEAK_REPORTS:
            names = [p["name"] for p in operation.get("parameters", [])]
            assert "Idempotency-Key" not in names, (path, method)
            assert "422" not in operation["responses"], (path, method)


def test_every_operation_documents_the_403_of_a_key_without_its_scope(schema):
    # A generated client raises (or returns nothing) on a status the schema leaves out.
    for path, method, operation in key_operations(schema):
        scope = operation["x-required-scope"]
        forbidden = operation["responses"]["403"]
        assert f"`{scope}` (`insufficient_scope`)" in forbidden["description"], (path, method)
        assert "WWW-Authenticate" in forbidden["headers"], (path, method)
        assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], (path, method)


def test_a_403_forbidden_is_still_described_beside_the_missing_scope(schema):
    forbidden = schema["paths"]["/api/v1/users"]["post"]["responses"]["403"]

    assert forbidden["description"] == (
        "The authenticated user doesn't have permission (`forbidden`), or the key lacks the "
        "scope `users:write` (`insufficient_scope`)"
    )


def test_created_answers_document_their_location_and_lists_their_links(schema):
    for path, method, operation in operations(schema):
        (success,) = [r for status, r in operation["responses"].items() if status < "300"]
        headers = success.get("headers", {})
        creates = method == "post" and (path, method) != LEAK_REPORTS
        assert ("Location" in headers) == creates, (path, method)
        lists = {"/api/v1/keys", "/api/v1/keys/{key_id}/events", "/api/v1/projects"}
        is_list = path in lists and method == "get"
        assert ("Link" in headers) == is_list, (path, method)


def test_scopes_asked_for_are_the_scopes_keys_carry(schema):
    components = schema["components"]["schemas"]
    asked = components["APIKeyCreate"]["properties"]["scopes"]["items"]
    carried = components["APIKey"]["properties"]["scopes"]["items"]

    assert asked == carried == {"$ref": "#/components/schemas/ScopesEnum"}


def test_no_operation_is_described_by_its_view_class_docstring(schema):
    for path, method, operation in operations(schema):
        assert "docs/api.md" not in operation["description"], (path, method)


@pytest.mark.parametrize("component", ["UserCreate", "ProjectWrite", "PatchedProjectWrite"])
def test_request_bodies_refuse_unknown_fields(schema, component):
    assert schema["components"]["schemas"][component]["additionalProperties"] is False


def test_project_ids_in_paths_have_their_pattern(schema):
    parameters = schema["paths"]["/api/v1/projects/{project_id}"]["get"]["parameters"]
    (project_id,) = [p for p in parameters if p["name"] == "project_id"]
    assert project_id["schema"]["pattern"] == "^project-[0-9]+$"
