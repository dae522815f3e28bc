"""The user admin's pages as the tests use them: their URLs and the forms they submit."""

from django.urls import reverse

from users.models import User

ADD_URL = reverse("admin:users_user_add")
CHANGELIST_URL = reverse("admin:users_user_changelist")
NEW_PASSWORD = "zebra-Quilt-981"
# The page carries the management form of the (read-only) inline of the user's keys.
NO_KEYS_INLINE = {"api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0"}


def change_url(user: User) -> str:
    return reverse("admin:users_user_change", args=[user.pk])


def password_url(user: User) -> str:
    return reverse("admin:auth_user_password_change", args=[user.pk])


def delete_url(user: User) -> str:
    return reverse("admin:users_user_delete", args=[user.pk])


def add_form(**fields: object) -> dict[str, object]:
    """The add form of the user `newbie`, setting NEW_PASSWORD."""
    return {
        "username": "newbie",
        "email": "newbie@example.com",
        "usable_password": "true",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        **NO_KEYS_INLINE,
        "_save": "Save",
        **fields,
    }


def keys_inline(user: User) -> dict[str, str]:
    """The (read-only) keys inline of the change form of a user who has keys."""
    keys = list(user.api_keys.order_by("pk").values_list("pk", flat=True))
    data = {"api_keys-TOTAL_FORMS": str(len(keys)), "api_keys-INITIAL_FORMS": str(len(keys))}
    for index, pk in enumerate(keys):
        data |= {f"api_keys-{index}-id": str(pk), f"api_keys-{index}-owner": str(user.pk)}
    return data


def change_form(user: User, **fields: object) -> dict[str, object]:
    """The change form of a user without keys, as the page would submit it (a user with keys:
    `**keys_inline(user)` among `fields`)."""
    data: dict[str, object] = {
        "username": user.username,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        **NO_KEYS_INLINE,
        "_save": "Save",
    }
    for flag in ("is_active", "is_staff", "is_superuser"):
        if getattr(user, flag):
            data[flag] = "on"
    data.update(fields)
    return data
