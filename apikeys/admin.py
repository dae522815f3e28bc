"""Staff issue, find and revoke keys here. Issuing goes through `apikey_issue`, like the
`createapikey` command; the plaintext is shown once, in the answer to the form's POST."""

import hashlib
import logging
import secrets
from datetime import UTC, datetime
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import unquote
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from apikeys.keycache import apikey_window_usage
from apikeys.models import APIKey
from apikeys.scopes import SCOPE_CHOICES, SCOPES
from apikeys.services import (
    IssuedAPIKey,
    apikey_issue,
    apikey_revoke,
    apikey_update,
    apikey_validate,
    apikey_validate_expiry_change,
    apikeys_revoke,
)
from apiproject.api.cache import CACHE_ERRORS
from users.authority import key_owners_within_reach, user_may_manage_keys_of
from users.models import User

logger = logging.getLogger(__name__)

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
ALWAYS_READ_ONLY = [
    "prefix",
    "owner",
    "status",
    "created_at",
    "last_used_at",
    "usage",
    "revoked_at",
    "revoked_by",
]
# The add form's one-time tokens, in the session: {token: prefix issued with it, or ""}.
ISSUE_TOKENS_SESSION_KEY = "apikeys.issue_tokens"
ISSUE_ONCE_FIELD = "issue_token"
ISSUE_TOKENS_KEPT = 20


class APIKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=SCOPE_CHOICES,
        initial=SCOPES,
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
    list_filter = [StatusFilter]
    search_fields = ["=prefix", "name", "^owner__username"]
    autocomplete_fields = ["owner"]
    actions = ["revoke_selected"]
    # A large table: no second COUNT(*) for "N total" on searched or filtered lists.
    show_full_result_count = False
    change_form_template = "admin/apikeys/apikey/change_form.html"

    class Media:
        css = {"all": ["apikeys/admin.css"]}

    # --- What can be seen and changed: never the digest; nothing once revoked --------------------

    def get_fields(self, request: HttpRequest, obj: APIKey | None = None) -> list[str]:
        return ADD_FIELDS if obj is None else CHANGE_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: APIKey | None = None) -> list[str]:
        return [] if obj is None else ALWAYS_READ_ONLY

    def has_change_permission(self, request: HttpRequest, obj: APIKey | None = None) -> bool:
        # A key that has ended (revoked, expired, rolled and past its grace) stays ended: its
        # page is read-only.
        if obj is not None and obj.status_at(timezone.now()) != APIKey.Status.ACTIVE:
            return False
        if obj is not None and not user_may_manage_keys_of(actor=request.user, owner=obj.owner):
            return False  # another staff account's key: seen, not changed (contract 10)
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
        """Issue a key, shaped like revoke_view: validate the form, call apikey_issue, answer
        with the once-only page. Django's add view only shows the empty form."""
        if request.method != "POST":
            if self.has_add_permission(request):
                extra_context = {**(extra_context or {}), "issue_token": _new_issue_token(request)}
            return super().add_view(request, form_url, extra_context)
        if not self.has_add_permission(request):
            raise PermissionDenied
        token = request.POST.get(ISSUE_ONCE_FIELD, "")
        tokens = request.session.get(ISSUE_TOKENS_SESSION_KEY, {})
        if token and tokens.get(token):
            return self.already_issued_response(request, prefix=tokens[token])
        if token and token not in tokens:
            token = ""  # not this session's (expired, forged): issue once, like any form
        form = self.get_form(request, None, change=False)(request.POST)
        if form.is_valid():
            if token and not claim_issue_token(request, token):
                return self.already_issued_response(request, prefix=None)
            try:
                issued = apikey_issue(
                    **{name: form.cleaned_data[name] for name in ADD_FIELDS}, actor=request.user
                )
            except ValidationError as exc:  # the owner was deactivated meanwhile, say
                form.add_error(None, exc)
            else:
                self.log_addition(request, issued.api_key, [{"added": {}}])
                if token:
                    # The prefix only: the plaintext is kept nowhere, the session included.
                    tokens = request.session.get(ISSUE_TOKENS_SESSION_KEY, {})
                    tokens[token] = issued.api_key.prefix
                    request.session[ISSUE_TOKENS_SESSION_KEY] = tokens
                return self.issued_response(request, issued)
        extra_context = {**(extra_context or {}), "issue_token": token or _new_issue_token(request)}
        return self.render_add_form(request, form, form_url, extra_context)

    def render_add_form(
        self,
        request: HttpRequest,
        form: forms.ModelForm,
        form_url: str,
        extra_context: dict | None,
    ) -> HttpResponse:
        """The add form with its errors, as Django's add view renders it."""
        admin_form = helpers.AdminForm(
            form,
            list(self.get_fieldsets(request)),
            self.get_prepopulated_fields(request),
            model_admin=self,
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Add {self.opts.verbose_name}",
            "subtitle": None,
            "adminform": admin_form,
            "object_id": None,
            "original": None,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        return self.render_change_form(request, context, add=True, form_url=form_url)

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

    # --- Changing: the filtered UPDATE of apikey_update loses to a concurrent revocation --------

    def save_model(self, request: HttpRequest, obj: APIKey, form: Any, change: bool) -> None:
        if not change:
            # Keys are issued by add_view through apikey_issue, never saved from a form.
            raise PermissionDenied
        # Refused when the key ended, or was rolled, since the form was shown (response_change).
        try:
            request.apikey_updated = apikey_update(
                api_key=obj,
                name=obj.name,
                expires_at=obj.expires_at,
                rate_limit=obj.rate_limit,
                scopes=obj.scopes,
                actor=request.user,
            )
        except ValidationError:
            request.apikey_updated = False

    def log_change(self, request: HttpRequest, obj: APIKey, message: Any) -> Any:
        if getattr(request, "apikey_updated", True):
            return super().log_change(request, obj, message)
        return None

    def response_change(self, request: HttpRequest, obj: APIKey) -> HttpResponse:
        if getattr(request, "apikey_updated", True):
            return super().response_change(request, obj)
        self.message_user(
            request,
            f"Key {obj.prefix} was revoked, rolled or expired meanwhile: nothing was changed.",
            messages.ERROR,
        )
        return HttpResponseRedirect(reverse("admin:apikeys_apikey_change", args=[obj.pk]))

    # --- Revoking -------------------------------------------------------------------------------

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> None:
        selected = queryset.count()
        within_reach = queryset.filter(key_owners_within_reach(request.user, prefix="owner__"))
        beyond = selected - within_reach.count()
        revoked = apikeys_revoke(api_keys=queryset, revoked_by=request.user)
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


# --- The add form's one-time tokens ---------------------------------------------------------------
# Django has no "submit once" for a form. A key's form must not issue a second key when the
# browser posts it again, so each rendered form carries a token kept in the session; the
# first valid POST claims it with the cache's atomic add (a double click's second request
# loses), and the session remembers the prefix issued with it for any later repeat.


def _new_issue_token(request: HttpRequest) -> str:
    token = secrets.token_urlsafe(16)
    tokens = request.session.get(ISSUE_TOKENS_SESSION_KEY, {})
    tokens[token] = ""
    # The newest few are kept: forms left open in a few tabs still work.
    request.session[ISSUE_TOKENS_SESSION_KEY] = dict(list(tokens.items())[-ISSUE_TOKENS_KEPT:])
    return token


def claim_issue_token(request: HttpRequest, token: str) -> bool:
    """True for the one request that may issue with `token`."""
    claim = hashlib.sha256(f"{request.session.session_key}:{token}".encode()).hexdigest()
    try:
        return cache.add(f"apikeys.issue-token:{claim}", 1, settings.SESSION_COOKIE_AGE)
    except CACHE_ERRORS as exc:
        # The session still stops a later repeat; only two simultaneous POSTs could both win.
        logger.warning("Issue token not claimed, the cache failed: %s: %s", type(exc).__name__, exc)
        return True
