"""The admin site: Django's, with login attempts limited per client IP and per username."""

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from apiproject.api.ratelimit import client_ip, count_request

LOGIN_PER_IP_GROUP = "admin.login.ip"
LOGIN_PER_USERNAME_GROUP = "admin.login.username"


class RateLimitedAuthenticationForm(AdminAuthenticationForm):
    """Counts every login attempt before the password is checked, so a guesser gets nowhere
    past the limits (ADMIN_LOGIN_RATE_LIMIT_PER_IP, ADMIN_LOGIN_RATE_LIMIT_PER_USERNAME)."""

    def clean(self) -> dict:
        username = (self.cleaned_data.get("username") or "").lower()
        budgets = [
            (LOGIN_PER_IP_GROUP, client_ip(self.request), settings.ADMIN_LOGIN_RATE_LIMIT_PER_IP),
            (LOGIN_PER_USERNAME_GROUP, username, settings.ADMIN_LOGIN_RATE_LIMIT_PER_USERNAME),
        ]
        for group, key, rate in budgets:
            usage = count_request(self.request, group=group, key=key, rate=rate)
            if usage is not None and usage.exceeded:
                raise ValidationError(
                    "Too many login attempts. Wait %(seconds)s seconds, then try again.",
                    code="too_many_attempts",
                    params={"seconds": usage.retry_after()},
                )
        return super().clean()


class APIAdminSite(admin.AdminSite):
    site_header = "API administration"
    site_title = "API admin"
    index_title = "Users, projects and API keys"
    # The service has no site of its own; "View site" opens the API docs.
    site_url = "/api/docs"
    login_form = RateLimitedAuthenticationForm
