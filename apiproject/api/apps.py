from django.apps import AppConfig


class APIKernelConfig(AppConfig):
    """The kernel as an app, for what it keeps in the database (idempotency records) and its
    command (`purgeidempotencykeys`)."""

    name = "apiproject.api"
    label = "api"
    verbose_name = "API"
