"""What keys add to a user's admin page: their keys (read-only), "Issue a key for this
user", why a user who holds keys is not deleted, and the key form's owner autocomplete,
which asks the user admin. Registered over whichever UserAdmin the apps before this one
registered (Django's unregister and register of a ModelAdmin)."""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

import users.admin  # noqa: F401 (registers the UserAdmin this one extends)
from apikeys.models import APIKey
from users.authority import key_owners_within_reach, user_may_manage_keys_of
from users.models import User


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


RegisteredUserAdmin = type(admin.site.get_model_admin(User))


class UserAdminWithKeys(RegisteredUserAdmin):
    inlines = [*RegisteredUserAdmin.inlines, APIKeyInline]
    change_form_template = "admin/apikeys/user/change_form.html"
    # Only keys protect a user (APIKey.owner is PROTECT): the pages say why, and what to do.
    delete_confirmation_template = "admin/apikeys/user/delete_confirmation.html"
    delete_selected_confirmation_template = "admin/apikeys/user/delete_selected_confirmation.html"

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

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[User], search_term: str
    ) -> tuple[QuerySet[User], bool]:
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # The key form's owner autocomplete (AutocompleteJsonView asks this admin) offers
        # only the users whose keys the acting user may issue.
        if _autocomplete_asks_for(request, "apikeys", "apikey", "owner"):
            queryset = queryset.filter(key_owners_within_reach(request.user))
        return queryset, may_have_duplicates


def _autocomplete_asks_for(request: HttpRequest, app_label: str, model: str, field: str) -> bool:
    match = request.resolver_match
    return (
        match is not None
        and match.url_name == "autocomplete"
        and request.GET.get("app_label") == app_label
        and request.GET.get("model_name") == model
        and request.GET.get("field_name") == field
    )


admin.site.unregister(User)
admin.site.register(User, UserAdminWithKeys)
