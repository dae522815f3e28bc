"""Staff issue, find and revoke keys here. Issuing goes through `apikey_issue`, like the
`createapikey` command; the plaintext is shown once, in the answer to the form's POST."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from apikeys.models import APIKey
from apikeys.services import (
    IssuedAPIKey,
    apikey_issue,
    apikey_revoke,
    apikey_update,
    apikeys_revoke,
)

ADD_FIELDS = ["owner", "name", "expires_at", "rate_limit"]
CHANGE_FIELDS = [
    "prefix",
    "owner",
    "name",
    "status",
    "created_at",
    "last_used_at",
    "expires_at",
    "rate_limit",
    "revoked_at",
    "revoked_by",
]
ALWAYS_READ_ONLY = [
    "prefix",
    "owner",
    "status",
    "created_at",
    "last_used_at",
    "revoked_at",
    "revoked_by",
]


class APIKeyForm(forms.ModelForm):
    class Meta:
        model = APIKey
        fields = ADD_FIELDS

    def clean_owner(self) -> Any:
        owner = self.cleaned_data["owner"]
        # Issuing is refused for inactive users (apikey_issue); say so on the form.
        if self.instance.pk is None and owner is not None and not owner.is_active:
            raise forms.ValidationError("This user is inactive: a key of theirs would not work.")
        return owner


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return APIKey.Status.choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> QuerySet[APIKey]:
        if self.value() not in APIKey.Status.values:
            return queryset
        return queryset.with_status(self.value(), timezone.now())


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    form = APIKeyForm
    list_display = [
        "prefix",
        "name",
        "owner",
        "created_at",
        "last_used_at",
        "expires_at",
        "rate_limit_display",
        "status",
    ]
    list_select_related = ["owner"]
    list_filter = [StatusFilter]
    search_fields = ["=prefix", "name", "^owner__username"]
    autocomplete_fields = ["owner"]
    actions = ["revoke_selected"]
    # A large table: no second COUNT(*) for "N total" on searched or filtered lists.
    show_full_result_count = False
    change_form_template = "admin/apikeys/apikey/change_form.html"

    # --- What can be seen and changed: never the digest; nothing once revoked --------------------

    def get_fields(self, request: HttpRequest, obj: APIKey | None = None) -> list[str]:
        return ADD_FIELDS if obj is None else CHANGE_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: APIKey | None = None) -> list[str]:
        return [] if obj is None else ALWAYS_READ_ONLY

    def has_change_permission(self, request: HttpRequest, obj: APIKey | None = None) -> bool:
        # Revocation is one-way: a revoked key's page is read-only.
        if obj is not None and obj.revoked_at is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: APIKey | None = None) -> bool:
        # Keys are revoked, never deleted, so the audit trail stays.
        return False

    @admin.display(description="rate limit", ordering="rate_limit")
    def rate_limit_display(self, api_key: APIKey) -> str:
        return api_key.rate_limit or "default"

    # --- Issuing: the plaintext goes into this one response and nowhere else ----------------------

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], add: bool = False, **kwargs: Any
    ) -> HttpResponse:
        if add:
            # Every successful add answers with the issued-key page, so only "Save" makes sense.
            context.update(show_save_and_add_another=False, show_save_and_continue=False)
        return super().render_change_form(request, context, add=add, **kwargs)

    def save_model(self, request: HttpRequest, obj: APIKey, form: Any, change: bool) -> None:
        if change:
            # Refused when the key was revoked since the form was shown (response_change).
            request.apikey_updated = apikey_update(
                api_key=obj, name=obj.name, expires_at=obj.expires_at, rate_limit=obj.rate_limit
            )
            return
        issued = apikey_issue(
            owner=obj.owner, name=obj.name, expires_at=obj.expires_at, rate_limit=obj.rate_limit
        )
        # The admin goes on with `obj` (log entry, response): make it the issued key.
        for field in APIKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(issued.api_key, field.attname))
        obj._state = issued.api_key._state
        # Kept on this request only, for response_add; it dies with the request.
        request.issued_api_key = issued

    def response_add(
        self, request: HttpRequest, obj: APIKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        issued: IssuedAPIKey = request.issued_api_key
        context = {
            **self.admin_site.each_context(request),
            "title": "API key issued",
            "subtitle": None,
            "opts": self.opts,
            "api_key": obj,
            "plaintext": issued.plaintext,
            "change_url": reverse("admin:apikeys_apikey_change", args=[obj.pk]),
        }
        response = TemplateResponse(request, "admin/apikeys/apikey/issued.html", context)
        # Neither the browser nor any proxy may keep the page that shows the key.
        response["Cache-Control"] = "no-store"
        return response

    def log_change(self, request: HttpRequest, obj: APIKey, message: Any) -> Any:
        if getattr(request, "apikey_updated", True):
            return super().log_change(request, obj, message)
        return None

    def response_change(self, request: HttpRequest, obj: APIKey) -> HttpResponse:
        if getattr(request, "apikey_updated", True):
            return super().response_change(request, obj)
        self.message_user(
            request,
            f"Key {obj.prefix} was revoked meanwhile: nothing was changed.",
            messages.ERROR,
        )
        return HttpResponseRedirect(reverse("admin:apikeys_apikey_change", args=[obj.pk]))

    # --- Revoking -------------------------------------------------------------------------------

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> None:
        selected = queryset.count()
        revoked = apikeys_revoke(api_keys=queryset, revoked_by=request.user)
        LogEntry.objects.log_actions(
            user_id=request.user.pk,
            queryset=APIKey.objects.filter(pk__in=revoked),
            action_flag=CHANGE,
            change_message="Revoked.",
        )
        message = f"Revoked {len(revoked)} of the {selected} selected keys."
        if len(revoked) < selected:
            message += f" {selected - len(revoked)} were revoked already."
        self.message_user(request, message, messages.SUCCESS)

    def get_urls(self) -> list:
        revoke = path(
            "<path:object_id>/revoke/",
            self.admin_site.admin_view(self.revoke_view),
            name="apikeys_apikey_revoke",
        )
        return [revoke, *super().get_urls()]

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        api_key = self.get_object(request, unquote(object_id))
        if api_key is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        # The model permission first: whether a key is revoked is not for everyone to learn.
        if not super().has_change_permission(request, api_key):
            raise PermissionDenied
        change_url = reverse("admin:apikeys_apikey_change", args=[api_key.pk])
        already = f"Key {api_key.prefix} is revoked already."
        if api_key.revoked_at is not None:
            self.message_user(request, already, messages.INFO)
            return HttpResponseRedirect(change_url)
        if request.method == "POST":
            if apikey_revoke(api_key=api_key, revoked_by=request.user):
                self.log_change(request, api_key, "Revoked.")
                message = f"Key {api_key.prefix} is revoked: it no longer works."
                self.message_user(request, message, messages.SUCCESS)
            else:
                self.message_user(request, already, messages.INFO)
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Revoke key {api_key.prefix}?",
            "opts": self.opts,
            "api_key": api_key,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/apikeys/apikey/revoke_confirmation.html", context)
