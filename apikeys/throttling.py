"""The per-key rate limit (docs/api.md, "Rate limiting"), counted with the key's record in the
key cache or, without it, by the kernel's `count_request`; and the key's usage of the day
(apikeys.usage)."""

from typing import Any

from django.conf import settings
from rest_framework.request import Request

from apikeys.keycache.verify import API_KEY_GROUP
from apikeys.models import APIKey
from apikeys.usage import usage_count, usage_count_answer
from apiproject.api.answers import on_answer
from apiproject.api.ratelimit import CountingThrottle, count_request


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
            # Counted with the key's record, its day's requests too (apikeys.keycache).
            self.usage = verification.usage
        else:
            self.usage = count_request(
                request,
                group=API_KEY_GROUP,
                key=api_key.prefix,
                rate=api_key.rate_limit or settings.API_RATE_LIMIT,
            )
            if self.usage is not None:
                usage_count(prefix=api_key.prefix, field="requests")
        if self.usage is not None:
            # A cache that failed the count would fail these too: counted only when it answers.
            prefix = api_key.prefix
            on_answer(request, lambda status: usage_count_answer(prefix=prefix, status=status))
        request.rate_limit_usage = self.usage
        return self.usage is None or not self.usage.exceeded
