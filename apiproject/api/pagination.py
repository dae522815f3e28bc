"""Page/limit pagination: the body, bounds and Link header of docs/api.md, "Pages"."""

import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

_DIGITS = re.compile(r"[0-9]+")
# Any page past 2**63 is past the end of every table; this bound only keeps Python's int
# conversion (limited to 4300 digits) and the echoed number sane.
MAX_PAGE_DIGITS = 1000


def query_integer(request: Request, name: str, *, default: int) -> int:
    """The query parameter `name` as an integer by the API's rules (docs/api.md, "Transport"):
    plain ASCII decimal digits, leading zeros allowed; `default` when it is absent; ValueError
    with the one message for every malformed value."""
    value = request.query_params.get(name)
    if value is None:
        return default
    if not _DIGITS.fullmatch(value):
        raise ValueError("Must be a whole number in plain decimal digits.")
    significant = value.lstrip("0") or "0"
    if len(significant) > MAX_PAGE_DIGITS:
        raise ValueError(f"Must have at most {MAX_PAGE_DIGITS} digits.")
    return int(significant)


class PageLimitPagination(BasePagination):
    page_query_param = "page"
    limit_query_param = "limit"
    default_limit = 20
    max_limit = 100

    def paginate_queryset(
        self, queryset: QuerySet, request: Request, view: Any = None
    ) -> list[Any]:
        self.page, self.limit = self.page_and_limit(request)
        self.request = request
        self.total = queryset.count()
        offset = (self.page - 1) * self.limit
        if offset >= self.total:
            # No query past the end: a huge offset would overflow the database's integer.
            return []
        return list(queryset[offset : offset + self.limit])

    def get_paginated_response(self, data: list[Any]) -> Response:
        body = {"total": self.total, "page": self.page, "limit": self.limit, "data": data}
        return Response(body, headers={"Link": self._link_header()})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["total", "page", "limit", "data"],
            "properties": {
                "total": {"type": "integer", "example": 42},
                "page": {"type": "integer", "example": 1},
                "limit": {"type": "integer", "example": self.default_limit},
                "data": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.page_query_param,
                "in": "query",
                "required": False,
                "description": "Page number, from 1.",
                "schema": {"type": "integer", "minimum": 1, "default": 1},
            },
            {
                "name": self.limit_query_param,
                "in": "query",
                "required": False,
                "description": f"Results per page, 1 to {self.max_limit}.",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_limit,
                    "default": self.default_limit,
                },
            },
        ]

    def page_and_limit(self, request: Request) -> tuple[int, int]:
        """The request's page and limit, or the 400 naming what is wrong with them."""
        errors: dict[str, list[str]] = {}
        page = self._integer(request, self.page_query_param, default=1, errors=errors)
        limit = self._integer(
            request, self.limit_query_param, default=self.default_limit, errors=errors
        )
        if page is not None and page < 1:
            errors[self.page_query_param] = ["Must be an integer of at least 1."]
        if limit is not None and not 1 <= limit <= self.max_limit:
            errors[self.limit_query_param] = [f"Must be an integer from 1 to {self.max_limit}."]
        if errors:
            order = (self.page_query_param, self.limit_query_param)
            raise ValidationError({name: errors[name] for name in order if name in errors})
        return page, limit

    @staticmethod
    def _integer(
        request: Request, name: str, *, default: int, errors: dict[str, list[str]]
    ) -> int | None:
        try:
            return query_integer(request, name, default=default)
        except ValueError as exc:
            errors[name] = [str(exc)]
            return None

    def _link_header(self) -> str:
        last = max(1, math.ceil(self.total / self.limit))
        links = [("first", 1)]
        if self.page > 1:
            links.append(("prev", min(self.page - 1, last)))
        if self.page < last:
            links.append(("next", self.page + 1))
        links.append(("last", last))
        page_url = self._page_url_maker()
        return ", ".join(f'<{page_url(page)}>; rel="{rel}"' for rel, page in links)

    def _page_url_maker(self) -> Callable[[int], str]:
        """What DRF's replace_query_param gives for `page` and then `limit` (the query's
        parameters sorted), with the query parsed once for every link rather than twice per
        link: that parsing was a tenth of a list request's CPU in the benchmark's profile."""
        scheme, netloc, path, query, fragment = urlsplit(self.request.get_full_path())
        parameters = parse_qs(query, keep_blank_values=True)
        parameters[self.limit_query_param] = [str(self.limit)]

        def page_url(page: int) -> str:
            with_page = {**parameters, self.page_query_param: [str(page)]}
            query = urlencode(sorted(with_page.items()), doseq=True)
            return urlunsplit((scheme, netloc, path, query, fragment))

        return page_url
