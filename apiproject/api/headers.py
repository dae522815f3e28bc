"""Headers the kernel adds to the answers of the API's operations."""

# The expiry of the credentials a request was made with, on every answer counted against
# them (docs/api.md, "The key's expiry"), as GitHub tells a token's expiry.
CREDENTIAL_EXPIRES_HEADER = "API-Key-Expires"
