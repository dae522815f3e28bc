"""The admin site: Django's, with failed login attempts limited (contract section 10)."""

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from apiproject.api.ratelimit import client_ip, failures_clear, failures_usage

LOGIN_FAILURES_PER_USERNAME_AND_IP_GROUP = "admin.login.failures.username-ip"
LOGIN_FAILURES_PER_IP_GROUP = "admin.login.failures.ip"


class FailureLimitedAuthenticationForm(AdminAuthenticationForm):
    """Counts failed logins only, per (username ignoring case, client IP) and per client IP,
    so nobody can lock anyone else out: a guesser elsewhere uses up only their own address's
    budgets, a correct password from an address without failures always gets in, and a
    success forgets that address's failures for that username."""

    def clean(self) -> dict:
        username = (self.cleaned_data.get("username") or "").lower()
        ip = client_ip(self.request)
        window = settings.ADMIN_LOGIN_FAILURE_WINDOW
        budgets = [
            # A newline is in no address: the pair cannot be spelled by another username.
            (
                LOGIN_FAILURES_PER_USERNAME_AND_IP_GROUP,
                f"{ip}\n{username}",
                settings.ADMIN_LOGIN_FAILURES_PER_USERNAME_AND_IP,
            ),
            (LOGIN_FAILURES_PER_IP_GROUP, ip, settings.ADMIN_LOGIN_FAILURES_PER_IP),
        ]
        for group, key, limit in budgets:
            usage = failures_usage(
                group=group, key=key, limit=limit, window=window, increment=False
            )
            if usage is not None and usage.count >= limit:
                raise ValidationError(
                    "Too many login attempts. Wait %(seconds)s seconds, then try again.",
                    code="too_many_attempts",
                    params={"seconds": usage.retry_after()},
                )
        try:
            cleaned = super().clean()
        except ValidationError:
            # A password was tried and refused (wrong, inactive, not staff): a failure.
            for group, key, limit in budgets:
                failures_usage(group=group, key=key, limit=limit, window=window, increment=True)
            raise
        if self.user_cache is not None:
            failures_clear(group=budgets[0][0], key=budgets[0][1], window=window)
        return cleaned


class APIAdminSite(admin.AdminSite):
    site_header = "API administration"
    site_title = "API admin"
    index_title = "Users, projects and API keys"
    # The service has no site of its own; "View site" opens the API docs.
    site_url = "/api/docs"
    # The sidebar repeats the index and takes 300 px from every list: at 1280 px the key
    # list's columns then need a horizontal scroll.
    enable_nav_sidebar = False
    login_form = FailureLimitedAuthenticationForm
