from django.apps import AppConfig


class APIKeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "API keys"

    def ready(self) -> None:
        # Registering: the OpenAPI description of the bearer scheme with drf-spectacular, the
        # deploy check that rate limits are shared, and the user signals of the key cache.
        from apikeys import checks, schema, signals  # noqa: F401
