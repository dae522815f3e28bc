"""The OpenAPI description of APIKeyAuthentication, for drf-spectacular."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class APIKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apikeys.authentication.APIKeyAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: `Authorization: Bearer ak_<prefix>_<secret>`.",
        }
