"""Users in admin: Django's UserAdmin, with what staff may change bounded by their own rights
(users.authority, docs/admin.md, "Staff authority"). Other apps add to the user's page what is
theirs (the projects app a link to the user's projects, the keys app their keys), each by
registering a subclass of the UserAdmin registered before it."""

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from users.authority import ACCOUNT_FIELDS, user_may_change_user, user_may_delete_user
from users.models import User
from users.services import user_save


class UserCreationForm(AdminUserCreationForm):
    # Only these fields (and the password): rights forged into the POST are not read.
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "email")


class UserEditForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User


# The fields of the change form whose editing the authority rule decides, field by field.
JUDGED_FORM_FIELDS = (*ACCOUNT_FIELDS, "groups", "user_permissions")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "usable_password", "password1", "password2"),
            },
        ),
    )
    readonly_fields = ("last_login", "date_joined")
    list_display = ("username", "email", "is_staff", "is_active", "date_joined")
    # The start of a username or email: what staff type to find someone.
    search_fields = ("^username", "^email")
    # The unique index on username serves this order.
    ordering = ("username",)
    # A large table: no second COUNT(*) for "N total" on searched or filtered lists.
    show_full_result_count = False

    # --- How far the acting user reaches (users.authority) ------------------------------------

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> tuple:
        readonly = tuple(super().get_readonly_fields(request, obj))
        if obj is None:
            return readonly  # the add form has no rights to give (UserCreationForm)
        beyond = tuple(
            field
            for field in JUDGED_FORM_FIELDS
            if not user_may_change_user(actor=request.user, target=obj, fields={field})
        )
        return readonly + beyond

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        if obj is not None and not user_may_change_user(actor=request.user, target=obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        # Asked per object by the delete view and by the "delete selected" action alike.
        if obj is not None and not user_may_delete_user(actor=request.user, target=obj):
            return False
        return super().has_delete_permission(request, obj)

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> Any:
        # Django asks only has_change_permission, which a staff user's own account passes for
        # its profile fields; setting a password here (no old password asked) is judged apart.
        user = self.get_object(request, unquote(id))
        if user is not None and not user_may_change_user(
            actor=request.user, target=user, fields={"password"}
        ):
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        user_save(user=obj, actor=request.user)
