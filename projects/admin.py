from django.contrib import admin

from projects.models import Project


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "created_at"]
    list_select_related = ["owner"]
    list_filter = ["created_at"]
    search_fields = ["name", "owner__username"]
    # An autocomplete, not a <select> of every user.
    autocomplete_fields = ["owner"]
    # A large table: no second COUNT(*) for "N total" on searched or filtered lists.
    show_full_result_count = False
