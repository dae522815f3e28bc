"""What a key may do (contract section 8): one scope per operation, the fixed list below."""

from collections.abc import Iterable

from django.core.exceptions import ValidationError

USERS_READ = "users:read"
USERS_WRITE = "users:write"
PROJECTS_READ = "projects:read"
PROJECTS_WRITE = "projects:write"
KEYS_READ = "keys:read"
KEYS_WRITE = "keys:write"

# In this order wherever scopes are listed.
SCOPES: tuple[str, ...] = (
    USERS_READ,
    USERS_WRITE,
    PROJECTS_READ,
    PROJECTS_WRITE,
    KEYS_READ,
    KEYS_WRITE,
)
SCOPE_CHOICES = [(scope, scope) for scope in SCOPES]


def all_scopes() -> list[str]:
    """A key issued without naming scopes has every scope (the model field's default)."""
    return list(SCOPES)


def canonical_scopes(scopes: Iterable[str]) -> list[str]:
    """`scopes` without repeats, in the order of SCOPES; ValidationError for an unknown scope
    or none at all."""
    named = set(scopes)
    if unknown := sorted(named - set(SCOPES)):
        raise ValidationError(
            f"Unknown scope {unknown[0]!r}: use any of {', '.join(SCOPES)}.",
            code="unknown_scope",
        )
    if not named:
        raise ValidationError("Name at least one scope.", code="no_scope")
    return [scope for scope in SCOPES if scope in named]


def validate_scopes(value: object) -> None:
    """Model validator: a list of known scopes, at least one."""
    if not isinstance(value, list) or not all(isinstance(scope, str) for scope in value):
        raise ValidationError("Must be a list of scopes.", code="invalid_scopes")
    canonical_scopes(value)
