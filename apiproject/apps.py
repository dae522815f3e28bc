from django.apps import AppConfig


class APIProjectConfig(AppConfig):
    """The project package as an app, for its management commands (`devsetup`)."""

    name = "apiproject"
