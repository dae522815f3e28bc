"""Staff issue, find and revoke keys here. Issuing goes through `apikey_issue`, like the
`createapikey` command; the plaintext is shown once, in the answer to the form's POST. A key's
page also shows what the key did and what was done to it: its usage chart (usage_chart.py) and
its events (key_events.py)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from apikeys.admin import issue_once
from apikeys.admin.key_events import apikey_events_html
from apikeys.admin.usage_chart import CHART_DAYS, apikey_usage_chart
from apikeys.events import KeyChangeSource
from apikeys.keycache import apikey_window_usage
from apikeys.models import APIKey, KeyEvent
from apikeys.scopes import all_scopes, scope_choices
from apikeys.services import (
    IssuedAPIKey,
    apikey_issue,
    apikey_revoke,
    apikey_settings,
    apikey_update,
    apikey_validate,
    apikey_validate_expiry_change,
    apikeys_revoke,
)
from apiproject.api.ratelimit import client_ip
from users.authority import key_owners_within_reach, user_may_manage_keys_of
from users.models import User

ADD_FIELDS = ["owner", "name", "expires_at", "rate_limit", "scopes"]
CHANGE_FIELDS = [
    "prefix",
    "owner",
    "name",
    "status",
    "created_at",
    "last_used_at",
    "expires_at",
    "rate_limit",
    "usage",
    "scopes",
    "revoked_at",
    "revoked_by",
]
# Below the key's fields, each in a fieldset of its own (docs/admin.md, "The pages").
USAGE_FIELDS = ["usage_chart"]
EVENT_FIELDS = ["key_events"]
ALWAYS_READ_ONLY = [
    "prefix",
    "owner",
    "status",
    "created_at",
    "last_used_at",
    "usage",
    "revoked_at",
    "revoked_by",
    *USAGE_FIELDS,
    *EVENT_FIELDS,
]
# The key list's "ending within 7 days" filter.
ENDING_SOON = timedelta(days=7)


def admin_source(request: HttpRequest) -> KeyChangeSource:
    """Changes through the admin: by the staff member, from their address."""
    return KeyChangeSource(via=KeyEvent.Via.ADMIN, actor=request.user, ip=client_ip(request))


class KeyEndedMeanwhile(Exception):  # noqa: N818 (a state, like Django's DoesNotExist)
    """The key ended (revoked, expired) or was rolled after its change form was checked."""

    def __init__(self, api_key: APIKey) -> None:
        super().__init__(api_key.prefix)
        self.api_key = api_key


class APIKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=scope_choices,
        initial=all_scopes,
        widget=forms.CheckboxSelectMultiple,
        help_text="What the key may do; every scope by default. At least one.",
    )

    class Meta:
        model = APIKey
        fields = ADD_FIELDS

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # The services' rules, shown on the form; the services check them again on save.
        adding = self.instance.pk is None
        try:
            apikey_validate(
                owner=cleaned.get("owner") if adding else None,
                name=cleaned.get("name") or "",
                rate_limit=cleaned.get("rate_limit"),
                scopes=cleaned.get("scopes"),
                expires_at=cleaned.get("expires_at") if adding else None,
            )
        except ValidationError as exc:
            self.add_error(None, exc)
        if not adding and "expires_at" in cleaned:
            try:
                apikey_validate_expiry_change(
                    api_key=self.instance, expires_at=cleaned["expires_at"]
                )
            except ValidationError as exc:
                self.add_error(None, exc)
        return cleaned


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return APIKey.Status.choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> QuerySet[APIKey]:
        if self.value() not in APIKey.Status.values:
            return queryset
        return queryset.with_status(self.value(), timezone.now())


class EndingSoonFilter(admin.SimpleListFilter):
    """Keys that still work (a rolled key in its grace included) and whose expiry is within
    ENDING_SOON: the ones about to stop working, to renew or roll in time."""

    title = "expiry"
    parameter_name = "expiry"
    WITHIN_7_DAYS = "within-7-days"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(self.WITHIN_7_DAYS, "ending within 7 days")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> QuerySet[APIKey]:
        if self.value() != self.WITHIN_7_DAYS:
            return queryset
        return queryset.ending_within(timezone.now(), ENDING_SOON)


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    form = APIKeyForm
    # What staff look for first, status beside the prefix; narrow enough for 1280 px with the
    # filter beside it (short dates: apiproject/formats; long names wrap: apikeys/admin.css).
    # The list is newest first; each key's page shows when it was created.
    list_display = [
        "prefix",
        "status",
        "owner",
        "name",
        "expires_at",
        "last_used_at",
        "rate_limit_display",
    ]
    list_select_related = ["owner"]
    list_filter = [StatusFilter, EndingSoonFilter]
    search_fields = ["=prefix", "name", "^owner__username"]
    autocomplete_fields = ["owner"]
    actions = ["revoke_selected"]
    # A large table: no second COUNT(*) for "N total" on searched or filtered lists.
    show_full_result_count = False
    change_form_template = "admin/apikeys/apikey/change_form.html"

    class Media:
        css = {"all": ["apikeys/admin.css"]}

    # --- What can be seen and changed: never the digest; nothing once revoked --------------------

    def get_fieldsets(self, request: HttpRequest, obj: APIKey | None = None) -> list:
        if obj is None:
            return [(None, {"fields": ADD_FIELDS})]
        return [
            (None, {"fields": CHANGE_FIELDS}),
            (f"Usage, last {CHART_DAYS} days", {"fields": USAGE_FIELDS}),
            ("Events", {"fields": EVENT_FIELDS}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: APIKey | None = None) -> list[str]:
        return [] if obj is None else ALWAYS_READ_ONLY

    def has_change_permission(self, request: HttpRequest, obj: APIKey | None = None) -> bool:
        # A key that has ended (revoked, expired, rolled and past its grace) stays ended: its
        # page is read-only.
        if obj is not None and obj.status_at(timezone.now()) != APIKey.Status.ACTIVE:
            return False
        if obj is not None and not user_may_manage_keys_of(actor=request.user, owner=obj.owner):
            return False  # another staff account's key: seen, not changed (docs/admin.md)
        return super().has_change_permission(request, obj)

    def formfield_for_foreignkey(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> forms.Field | None:
        if db_field.name == "owner":
            # Only owners within the acting user's reach: a forged owner is the form's
            # "Select a valid choice" error, and the autocomplete widget shows these alone.
            kwargs["queryset"] = User.objects.filter(key_owners_within_reach(request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request: HttpRequest, obj: APIKey | None = None) -> bool:
        # Keys are revoked, never deleted, so the audit trail stays.
        return False

    @admin.display(description="rate limit", ordering="rate_limit")
    def rate_limit_display(self, api_key: APIKey) -> str:
        return api_key.rate_limit or "default"

    @admin.display(description="used this minute")
    def usage(self, api_key: APIKey) -> str:
        """The requests counted in the key's current window, read from the throttle's own
        counter without counting (nothing is written per request for this page)."""
        rate = api_key.rate_limit or settings.API_RATE_LIMIT
        usage = apikey_window_usage(api_key=api_key)
        if usage is None:
            return "unknown: the rate-limit cache does not answer"
        resets = datetime.fromtimestamp(usage.reset, tz=UTC)
        return format_html(
            "{} of {} requests ({}{}); the count starts again at {} UTC",
            min(usage.count, usage.limit),
            usage.limit,
            rate,
            "" if api_key.rate_limit else ", the default",
            resets.strftime("%H:%M:%S"),
        )

    @admin.display(description="requests per day")
    def usage_chart(self, api_key: APIKey) -> str:
        return apikey_usage_chart(api_key=api_key)

    @admin.display(description="newest first")
    def key_events(self, api_key: APIKey) -> str:
        return apikey_events_html(api_key=api_key)

    # --- Issuing: the plaintext goes into this one response and nowhere else ------------------

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], add: bool = False, **kwargs: Any
    ) -> HttpResponse:
        if add:
            # Every successful add answers with the issued-key page, so only "Save" makes sense.
            context.update(show_save_and_add_another=False, show_save_and_continue=False)
        return super().render_change_form(request, context, add=add, **kwargs)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """Issue a key: a valid form calls apikey_issue and is answered with the once-only
        page; Django's own add view renders the form, empty or with its errors."""
        extra_context = dict(extra_context or {})
        if request.method != "POST":
            if self.has_add_permission(request):
                extra_context["issue_token"] = issue_once.new_token(request)
            return super().add_view(request, form_url, extra_context)
        if not self.has_add_permission(request):
            raise PermissionDenied
        token = issue_once.submitted_token(request)
        if token and (prefix := issue_once.issued_with(request, token)):
            return self.already_issued_response(request, prefix=prefix)
        form = self.get_form(request, None, change=False)(request.POST)
        if form.is_valid():
            if token and not issue_once.claim(request, token):
                return self.already_issued_response(request, prefix=None)
            try:
                issued = apikey_issue(
                    **{name: form.cleaned_data[name] for name in ADD_FIELDS},
                    source=admin_source(request),
                )
            except ValidationError:
                # Changed since the form was checked (the owner deactivated meanwhile, say):
                # Django's add view checks the form again below and says why.
                pass
            else:
                self.log_addition(request, issued.api_key, [{"added": {}}])
                if token:
                    issue_once.remember(request, token, issued.api_key.prefix)
                return self.issued_response(request, issued)
        extra_context["issue_token"] = token or issue_once.new_token(request)
        return super().add_view(request, form_url, extra_context)

    def issued_response(self, request: HttpRequest, issued: IssuedAPIKey) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "API key issued",
            "subtitle": None,
            "opts": self.opts,
            "api_key": issued.api_key,
            "plaintext": issued.plaintext,
            "change_url": reverse("admin:apikeys_apikey_change", args=[issued.api_key.pk]),
        }
        response = TemplateResponse(request, "admin/apikeys/apikey/issued.html", context)
        # Neither the browser nor any proxy may keep the page that shows the key.
        response["Cache-Control"] = "no-store"
        return response

    def already_issued_response(self, request: HttpRequest, prefix: str | None) -> HttpResponse:
        """The answer to a form submitted again (a reload, a double click, Back and Submit):
        the key issued the first time, by its prefix, never its plaintext."""
        api_key = APIKey.objects.filter(prefix=prefix).first() if prefix else None
        context = {
            **self.admin_site.each_context(request),
            "title": "API key already issued",
            "subtitle": None,
            "opts": self.opts,
            "prefix": prefix,
            "change_url": reverse("admin:apikeys_apikey_change", args=[api_key.pk])
            if api_key
            else None,
            "changelist_url": reverse("admin:apikeys_apikey_changelist"),
            "add_url": reverse("admin:apikeys_apikey_add"),
        }
        response = TemplateResponse(
            request, "admin/apikeys/apikey/already_issued.html", context, status=409
        )
        response["Cache-Control"] = "no-store"
        return response

    # --- Changing: apikey_update judges the stored key, not the one the form was shown -------

    def save_model(self, request: HttpRequest, obj: APIKey, form: Any, change: bool) -> None:
        if not change:
            # Keys are issued by add_view through apikey_issue, never saved from a form.
            raise PermissionDenied
        try:
            updated = apikey_update(
                api_key=obj, **apikey_settings(obj), source=admin_source(request)
            )
        except ValidationError:
            updated = False  # rolled since the form was shown: its grace only shortens
        if not updated:
            raise KeyEndedMeanwhile(obj)

    def change_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return super().change_view(request, *args, **kwargs)
        except KeyEndedMeanwhile as ended:
            # Raised inside Django's transaction: nothing of the change, nor its log, is kept.
            prefix = ended.api_key.prefix
            message = f"Key {prefix} was revoked, rolled or expired meanwhile: nothing was changed."
            self.message_user(request, message, messages.ERROR)
            return HttpResponseRedirect(
                reverse("admin:apikeys_apikey_change", args=[ended.api_key.pk])
            )

    # --- Revoking -------------------------------------------------------------------------------

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> None:
        selected = queryset.count()
        within_reach = queryset.filter(key_owners_within_reach(request.user, prefix="owner__"))
        beyond = selected - within_reach.count()
        revoked = apikeys_revoke(api_keys=queryset, source=admin_source(request))
        LogEntry.objects.log_actions(
            user_id=request.user.pk,
            queryset=APIKey.objects.filter(pk__in=revoked),
            action_flag=CHANGE,
            change_message="Revoked.",
        )
        message = f"Revoked {len(revoked)} of the {selected} selected keys."
        if len(revoked) < selected - beyond:
            message += f" {selected - beyond - len(revoked)} were revoked already."
        if beyond:
            message += f" {beyond} belong to staff accounts beyond your rights: left alone."
        level = messages.WARNING if beyond else messages.SUCCESS
        self.message_user(request, message, level)

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
        if not user_may_manage_keys_of(actor=request.user, owner=api_key.owner):
            raise PermissionDenied
        change_url = reverse("admin:apikeys_apikey_change", args=[api_key.pk])
        already = f"Key {api_key.prefix} is revoked already."
        if api_key.revoked_at is not None:
            self.message_user(request, already, messages.INFO)
            return HttpResponseRedirect(change_url)
        if request.method == "POST":
            if apikey_revoke(api_key=api_key, source=admin_source(request)):
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
