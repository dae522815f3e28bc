"""The key format (docs/api.md, "The key format") as pure functions: nothing here touches the
database.

A key reads `ak_<prefix>_<secret>`: the prefix is a short public id, the secret 43 random
base62 characters (256 bits from `secrets`) followed by a 6-character CRC32 checksum of
everything before it, so a mistyped or made-up key is refused without a query and secret
scanners can recognise a leaked one. Only `digest()` of the whole key is ever stored.
"""

import hashlib
import hmac
import re
import secrets
import string
import zlib

KEY_SCHEME = "ak"
PREFIX_LENGTH = 8
RANDOM_LENGTH = 43  # 43 base62 characters carry 256.03 bits
CHECKSUM_LENGTH = 6  # base62 of a CRC32
SECRET_LENGTH = RANDOM_LENGTH + CHECKSUM_LENGTH
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase

KEY_PATTERN = re.compile(
    rf"{KEY_SCHEME}_(?P<prefix>[0-9A-Za-z]{{{PREFIX_LENGTH}}})_[0-9A-Za-z]{{{SECRET_LENGTH}}}"
)


class Plaintext(str):
    """A key's plaintext: itself wherever it is shown, but masked in reprs, so a traceback or
    a debug log of a template context (Django logs the whole context when a variable is
    missing) never carries it."""

    def __repr__(self) -> str:
        return repr(f"{self[: len(KEY_SCHEME) + PREFIX_LENGTH + 2]}…")


def random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def checksum(text: str) -> str:
    """The CHECKSUM_LENGTH base62 digits of `text`'s CRC32."""
    value = zlib.crc32(text.encode())
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        value, remainder = divmod(value, len(BASE62))
        digits.append(BASE62[remainder])
    return "".join(reversed(digits))


def generate_prefix() -> str:
    return random_base62(PREFIX_LENGTH)


def generate(prefix: str) -> Plaintext:
    """A new key with this public prefix: fresh random secret, checksum appended."""
    unchecked = f"{KEY_SCHEME}_{prefix}_{random_base62(RANDOM_LENGTH)}"
    return Plaintext(unchecked + checksum(unchecked))


def checked_prefix(plaintext: str) -> str | None:
    """The prefix of a well-formed key whose checksum holds; None for anything else."""
    match = KEY_PATTERN.fullmatch(plaintext)
    if match is None:
        return None
    unchecked, given = plaintext[:-CHECKSUM_LENGTH], plaintext[-CHECKSUM_LENGTH:]
    if not hmac.compare_digest(checksum(unchecked), given):
        return None
    return match["prefix"]


def digest(plaintext: str) -> str:
    """What is stored of a key: the hex SHA-256 of the whole plaintext."""
    return hashlib.sha256(plaintext.encode()).hexdigest()
