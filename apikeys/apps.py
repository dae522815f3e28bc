from django.apps import AppConfig


class APIKeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "API keys"

    def ready(self) -> None:
        from apikeys.scopes import KEYS_READ, KEYS_WRITE
        from apiproject.api.scopes import declare_scopes

        declare_scopes(self.label, KEYS_READ, KEYS_WRITE)
        # Registering: the OpenAPI description of the bearer scheme with drf-spectacular, the
        # deploy check that rate limits are shared, and the user signals of the key cache.
        from apikeys import checks, schema, signals  # noqa: F401
