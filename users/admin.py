from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from apikeys.models import APIKey
from users.models import User


class UserCreationForm(AdminUserCreationForm):
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
    fields = ["prefix", "name", "created_at", "last_used_at", "expires_at", "status"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False


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
    # Only superusers grant rights: users.change_user must not let staff make themselves
    # superusers or give themselves permissions.
    superuser_only_fields = ("is_superuser", "groups", "user_permissions")

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> tuple:
        readonly = tuple(super().get_readonly_fields(request, obj))
        if request.user.is_superuser:
            return readonly
        return readonly + self.superuser_only_fields

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        # A superuser's account (password included) is changed by superusers only.
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        # Asked per object by the delete view and by the "delete selected" action alike.
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description="projects")
    def project_count(self, user: User) -> str:
        if user.pk is None:
            return "-"
        url = reverse("admin:projects_project_changelist") + f"?owner__id__exact={user.pk}"
        return format_html('<a href="{}">{} projects</a>', url, user.projects.count())
