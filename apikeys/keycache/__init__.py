"""Verified key records in Redis, read together with the key's rate-limit count in one round trip
(docs/api.md, "Verifying a key" and "Rate limiting").

Verifying a key from the database costs a query joined to its owner on every request, and
counting it through django-ratelimit two more Redis round trips (`SET NX`, then an `EVAL` that
sends its Lua source each time). Here one `EVALSHA` (redis-py's `Script`: the source is sent
once per server) reads the key's cached record and, when the caller's digest matches it,
counts the request in the same fixed windows django-ratelimit keeps. django-ratelimit has no
way to count under a condition or beside another read, hence this hand-written path; it still
counts everything else (the per-IP budget for failed authentication, the admin login).

The record (record.py) holds what a request needs of the key and its owner, as named fields;
unknown and unusable keys are recorded too. The scripts and key names are store.py; the
verification itself is apikeys.verification's, whichever store the row comes from.

Every change to what a record holds drops it at once and is recorded in the database, so
that it reaches Redis even when the process that made it could not (invalidation.py):
a record is trusted only while this process has recently delivered every recorded change. A
record filled from a database read that an invalidation overtook is not written: each prefix
has a generation, bumped by every invalidation and read before the database is; the fill is
refused if it moved. Records live API_KEY_CACHE_SECONDS at most (and never past the key's
expiry), unknown prefixes as long as known ones, so that timing does not tell them apart.

Only a cache every process shares can be told at once that a key was revoked (the commands run
in their own process), so records are cached only in Redis; with process memory (development)
every request verifies against the database, as before. When Redis fails, the request is
verified against the database and served without counting, with the one WARNING line of
`apiproject.api.ratelimit`.
"""

from apikeys.keycache.invalidation import (
    CHANGES,
    apikey_cache_enabled,
    apikey_cache_forget,
    apikey_cache_forget_user,
)
from apikeys.keycache.verify import KeyVerification, apikey_verify_and_count, apikey_window_usage

__all__ = [
    "CHANGES",
    "KeyVerification",
    "apikey_cache_enabled",
    "apikey_cache_forget",
    "apikey_cache_forget_user",
    "apikey_verify_and_count",
    "apikey_window_usage",
]
