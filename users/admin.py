from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
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

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="status")
    def status(self, api_key: APIKey) -> str:
        return api_key.status


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
    # Prefix searches: what staff type, and cheaper than a substring scan of every user.
    search_fields = ("^username", "^email")
    ordering = ("-date_joined", "-id")
    inlines = [APIKeyInline]
    # A million users: no COUNT(*) of the whole table on every list page.
    show_full_result_count = False

    @admin.display(description="projects")
    def project_count(self, user: User) -> str:
        if user.pk is None:
            return "-"
        url = reverse("admin:projects_project_changelist") + f"?owner__id__exact={user.pk}"
        return format_html('<a href="{}">{} projects</a>', url, user.projects.count())
