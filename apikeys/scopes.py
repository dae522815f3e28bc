"""What a key may do (docs/api.md, "Scopes"): any of the scopes the apps declared for their
operations (apiproject.api.scopes), one per operation. The keys' own operations' scopes are
declared here."""

from collections.abc import Iterable

from django.core.exceptions import ValidationError

from apiproject.api.scopes import declared_scopes

KEYS_READ = "keys:read"
KEYS_WRITE = "keys:write"


def all_scopes() -> list[str]:
    """Every scope, in their order: a key issued without naming scopes has them all (the
    model field's default)."""
    return list(declared_scopes())


def scope_choices() -> list[tuple[str, str]]:
    return [(scope, scope) for scope in declared_scopes()]


def canonical_scopes(scopes: Iterable[str]) -> list[str]:
    """`scopes` without repeats, in the order of all_scopes(); ValidationError for an unknown
    scope or none at all."""
    known = declared_scopes()
    named = set(scopes)
    if unknown := sorted(named - set(known)):
        raise ValidationError(
            f"Unknown scope {unknown[0]!r}: use any of {', '.join(known)}.",
            code="unknown_scope",
        )
    if not named:
        raise ValidationError("Name at least one scope.", code="no_scope")
    return [scope for scope in known if scope in named]


def validate_scopes(value: object) -> None:
    """Model validator: a list of known scopes, at least one."""
    if not isinstance(value, list) or not all(isinstance(scope, str) for scope in value):
        raise ValidationError("Must be a list of scopes.", code="invalid_scopes")
    canonical_scopes(value)
