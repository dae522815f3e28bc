from django.apps import AppConfig


class APIKeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "API keys"

    def ready(self) -> None:
        # Registering: the OpenAPI description of the bearer scheme with drf-spectacular, and
        # the deploy check that rate limits are shared.
        from apikeys import checks, schema  # noqa: F401
