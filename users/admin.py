"""Users in admin: Django's UserAdmin, with what staff may change bounded by their own rights
(users.authority, contract section 10) and the user's keys and projects on their page."""

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from apikeys.models import APIKey
from users.authority import (
    ACCOUNT_FIELDS,
    key_owners_within_reach,
    user_may_change_user,
    user_may_delete_user,
    user_may_manage_keys_of,
)
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


class APIKeyInline(admin.TabularInline):
    """The user's keys, read-only: keys are issued and revoked on their own pages."""

    model = APIKey
    fk_name = "owner"
    fields = ["prefix", "status", "name", "created_at", "last_used_at", "expires_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False


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
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Projects", {"fields": ("project_count",)}),
    )
    readonly_fields = ("project_count", "last_login", "date_joined")
    list_display = ("username", "email", "is_staff", "is_active", "date_joined")
    # The start of a username or email: what staff type to find someone.
    search_fields = ("^username", "^email")
    # The unique index on username serves this order.
    ordering = ("username",)
    inlines = [APIKeyInline]
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

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[User], search_term: str
    ) -> tuple[QuerySet[User], bool]:
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # The key form's owner autocomplete (AutocompleteJsonView asks this admin) offers
        # only the users whose keys the acting user may issue.
        if _autocomplete_asks_for(request, "apikeys", "apikey", "owner"):
            queryset = queryset.filter(key_owners_within_reach(request.user))
        return queryset, may_have_duplicates

    # --- The user's page: their keys and projects ----------------------------------------------

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        user = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if (
            user is not None
            and request.user.has_perm("apikeys.add_apikey")
            and user.is_active
            and user_may_manage_keys_of(actor=request.user, owner=user)
        ):
            context["issue_key_url"] = reverse("admin:apikeys_apikey_add") + f"?owner={user.pk}"
        return super().change_view(request, object_id, form_url, context)

    @admin.display(description="projects")
    def project_count(self, user: User) -> str:
        if user.pk is None:
            return "-"
        url = reverse("admin:projects_project_changelist") + f"?owner__id__exact={user.pk}"
        return format_html('<a href="{}">{} projects</a>', url, user.projects.count())


def _autocomplete_asks_for(request: HttpRequest, app_label: str, model: str, field: str) -> bool:
    match = request.resolver_match
    return (
        match is not None
        and match.url_name == "autocomplete"
        and request.GET.get("app_label") == app_label
        and request.GET.get("model_name") == model
        and request.GET.get("field_name") == field
    )
