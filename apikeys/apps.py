from django.apps import AppConfig


class APIKeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "API keys"

    def ready(self) -> None:
        # Registers the OpenAPI description of the bearer scheme with drf-spectacular.
        from apikeys import schema  # noqa: F401
