"""The per-key rate limit (docs/api.md, "Rate limiting"), counted by the kernel's
`count_request`."""

from typing import Any

from django.conf import settings
from rest_framework.request import Request

from apikeys.models import APIKey
from apiproject.api.ratelimit import CountingThrottle, count_request

API_KEY_GROUP = "apikeys.key"


class APIKeyRateThrottle(CountingThrottle):
    """Every request made with a valid key counts against that key (not its user): the key's
    own `rate_limit`, else API_RATE_LIMIT. The usage is kept on the request for the
    X-RateLimit headers (APIViewSet.finalize_response)."""

    def allow_request(self, request: Request, view: Any) -> bool:
        api_key = request.auth
        if not isinstance(api_key, APIKey):
            return True
        verification = getattr(request, "key_verification", None)
        if verification is not None and verification.counted:
            self.usage = verification.usage  # counted with the key's record (apikeys.keycache)
        else:
            self.usage = count_request(
                request,
                group=API_KEY_GROUP,
                key=api_key.prefix,
                rate=api_key.rate_limit or settings.API_RATE_LIMIT,
            )
        request.rate_limit_usage = self.usage
        return self.usage is None or not self.usage.exceeded
