from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"

    def ready(self) -> None:
        from apiproject.api.scopes import declare_scopes
        from users.scopes import USERS_READ, USERS_WRITE

        declare_scopes(self.label, USERS_READ, USERS_WRITE)
