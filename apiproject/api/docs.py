"""The OpenAPI document's view and drf-spectacular's postprocessing hook.

Apart from schema.py: drf-spectacular's views import the DEFAULT_SCHEMA_CLASS setting, which
names schema.py, so the two cannot share a module.
"""

from typing import Any

from drf_spectacular.views import SpectacularAPIView
from rest_framework.request import Request


def strip_trailing_slashes(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """The router serves `/users` and `/users/` alike; document the form without the slash
    (docs/api.md, "Transport")."""
    result["paths"] = {path.rstrip("/") or "/": item for path, item in result["paths"].items()}
    return result


class SchemaView(SpectacularAPIView):
    """The OpenAPI document. drf-spectacular would read ?version= into its Content-Disposition
    header (a newline in it is a 500); this API has one version."""

    def _get_version_parameter(self, request: Request) -> None:
        return None
