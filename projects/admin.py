from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

import users.admin  # noqa: F401 (registers the UserAdmin that UserAdminWithProjects extends)
from projects.models import Project
from users.models import User


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["owner", "name", "description", "created_at"]

    def clean_description(self) -> str:
        # Browsers send a textarea's line breaks as CRLF; a lone CR is a control character
        # the model refuses (it can rewrite a terminal line), a line break is not.
        return self.cleaned_data["description"].replace("\r\n", "\n")


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectForm
    list_display = ["name", "owner", "created_at"]
    list_select_related = ["owner"]
    list_filter = ["created_at"]
    search_fields = ["name", "owner__username"]
    # An autocomplete, not a <select> of every user.
    autocomplete_fields = ["owner"]
    # A large table: no second COUNT(*) for "N total" on searched or filtered lists.
    show_full_result_count = False


# --- The user's admin page: a link to their projects -----------------------------------------

RegisteredUserAdmin = type(admin.site.get_model_admin(User))


class UserAdminWithProjects(RegisteredUserAdmin):
    """Registered over the UserAdmin the users app registered (Django's unregister and
    register of a ModelAdmin): the projects app adds what is its own to a user's page."""

    fieldsets = (*RegisteredUserAdmin.fieldsets, ("Projects", {"fields": ("project_count",)}))
    readonly_fields = ("project_count", *RegisteredUserAdmin.readonly_fields)

    @admin.display(description="projects")
    def project_count(self, user: User) -> str:
        if user.pk is None:
            return "-"
        url = reverse("admin:projects_project_changelist") + f"?owner__id__exact={user.pk}"
        return format_html('<a href="{}">{} projects</a>', url, user.projects.count())


admin.site.unregister(User)
admin.site.register(User, UserAdminWithProjects)
