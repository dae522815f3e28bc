from django import forms
from django.contrib import admin

from projects.models import Project


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
