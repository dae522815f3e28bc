"""Rate strings: `N/m`, N requests per minute, N from 1 to 1,000,000.

Pure Python, so settings can validate theirs at startup. django-ratelimit itself is lenient
(`100/` means per second) and raises on `5/0m` only when a request comes in, so every rate is
checked here, where it is stored.
"""

import re

from django.core.exceptions import ValidationError

MAX_REQUESTS_PER_MINUTE = 1_000_000
_RATE = re.compile(r"([1-9][0-9]{0,6})/m")


def requests_per_minute(rate: str) -> int:
    """The N of a valid `N/m` rate; ValueError for anything else."""
    match = _RATE.fullmatch(rate)
    if match is None or int(match.group(1)) > MAX_REQUESTS_PER_MINUTE:
        raise ValueError(
            f"{rate!r} is not a rate: use N/m, N requests per minute, "
            f"N from 1 to {MAX_REQUESTS_PER_MINUTE:,}"
        )
    return int(match.group(1))


def validate_rate(rate: str) -> None:
    """Model and form validator for `N/m` rates."""
    try:
        requests_per_minute(rate)
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid_rate") from None
