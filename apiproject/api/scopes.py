"""The scopes an API key may carry: one per operation (docs/api.md, "Scopes"). Each app declares
the scopes of its own operations when it is ready (its AppConfig.ready); the API keys app
offers whatever was declared. Listed in the order of INSTALLED_APPS, then of declaration, so
that every list of scopes (forms, the OpenAPI document, a key's own) reads the same way
whatever imported what first."""

from django.apps import apps

_declared: dict[str, list[str]] = {}  # app label -> its scopes


def declare_scopes(app_label: str, *scopes: str) -> None:
    """The scopes of `app_label`'s operations; declaring one again changes nothing."""
    declared = _declared.setdefault(app_label, [])
    declared.extend(scope for scope in scopes if scope not in declared)


def declared_scopes() -> tuple[str, ...]:
    """Every declared scope, in the order of the apps, then of declaration."""
    order = [config.label for config in apps.get_app_configs()]
    labels = sorted(_declared, key=lambda label: order.index(label) if label in order else -1)
    return tuple(scope for label in labels for scope in _declared[label])
