"""Content negotiation: DRF's, honouring `q=0`."""

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request


def refused(media_range: str) -> bool:
    """Whether an Accept element says "not this": q=0 (RFC 9110, section 12.4.2)."""
    for parameter in media_range.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value) == 0
            except ValueError:
                return False
    return False


class QualityAwareContentNegotiation(DefaultContentNegotiation):
    """DRF orders the Accept header by specificity and ignores q, so `application/json;q=0`
    would get JSON; here it gets 406 like any other type the API does not serve."""

    def get_accept_list(self, request: Request) -> list[str]:
        return [
            media_range
            for media_range in super().get_accept_list(request)
            if not refused(media_range)
        ]
