"""drf-spectacular hooks."""

from typing import Any


def strip_trailing_slashes(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """The router serves `/users` and `/users/` alike; document the contract's form."""
    result["paths"] = {path.rstrip("/") or "/": item for path, item in result["paths"].items()}
    return result
