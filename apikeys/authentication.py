from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from apikeys.keycache import apikey_verify_and_count
from apikeys.models import APIKey
from users.models import User

# One answer for every kind of bad key (docs/api.md, "Authentication"): it tells an attacker
# nothing.
INVALID_KEY_DETAIL = "The API key is missing, malformed, unknown, revoked or expired"


class APIKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <key>` (docs/api.md, "Authentication").

    None only when there is no Authorization header at all; any other header that does not
    carry a valid key (another scheme included) is AuthenticationFailed.
    """

    keyword = "bearer"

    def authenticate(self, request: Request) -> tuple[User, APIKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            return None
        # RFC 6750: the scheme, one or more spaces, the token. Not str.split(), which would
        # also split on tabs and non-breaking spaces.
        parts = [part for part in header.split(" ") if part]
        if len(parts) != 2 or parts[0].lower() != self.keyword:
            raise AuthenticationFailed(INVALID_KEY_DETAIL)
        verification = apikey_verify_and_count(plaintext=parts[1])
        if verification.api_key is None:
            raise AuthenticationFailed(INVALID_KEY_DETAIL)
        # Counted in the round trip that read the key's record, when it was: APIKeyRateThrottle
        # uses that count instead of counting again.
        request.key_verification = verification
        return verification.api_key.owner, verification.api_key

    def authenticate_header(self, request: Request) -> str:
        # DRF answers 403 instead of 401 without this header.
        return 'Bearer realm="api"'
