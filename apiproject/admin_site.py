"""The admin site: Django's, with failed login attempts limited (docs/admin.md, "Login limits")."""

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from apiproject.api.ratelimit import (
    FailureBudget,
    client_ip,
    failures_release,
    failures_reserve,
)

LOGIN_FAILURES_PER_USERNAME_AND_IP_GROUP = "admin.login.failures.username-ip"
LOGIN_FAILURES_PER_IP_GROUP = "admin.login.failures.ip"


class FailureLimitedAuthenticationForm(AdminAuthenticationForm):
    """Counts failed logins only, per (username ignoring case, client IP) and per client IP,
    so nobody can lock anyone else out: a guesser elsewhere uses up only their own address's
    budgets, a correct password from an address without failures always gets in, and a
    success forgets that address's failures for that username.

    Each attempt is counted before its password is checked (failures_reserve), so attempts
    sent at once see each other: at most the limit of them are checked, the rest are answered
    as locked. Without the shared cache the budgets are counted in this process's memory."""

    def clean(self) -> dict:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()  # no password is checked: nothing to count
        ip = client_ip(self.request)
        # A newline is in no address: the pair cannot be spelled by another username. Both
        # budgets are the address's: one slot of a Redis Cluster.
        pair = FailureBudget(
            group=LOGIN_FAILURES_PER_USERNAME_AND_IP_GROUP,
            key=f"{ip}\n{username.lower()}",
            limit=settings.ADMIN_LOGIN_FAILURES_PER_USERNAME_AND_IP,
            tag=ip,
        )
        per_ip = FailureBudget(
            group=LOGIN_FAILURES_PER_IP_GROUP, key=ip, limit=settings.ADMIN_LOGIN_FAILURES_PER_IP
        )
        reservation = failures_reserve(
            budgets=[pair, per_ip], window=settings.ADMIN_LOGIN_FAILURE_WINDOW
        )
        if reservation.refused is not None:
            raise ValidationError(
                "Too many login attempts. Wait %(seconds)s seconds, then try again.",
                code="too_many_attempts",
                params={"seconds": reservation.refused.retry_after()},
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            # A password was tried and refused (wrong, inactive, not staff): the reservation
            # stays, as the failure's count.
            raise
        except Exception:
            failures_release(reservation)  # an error, not an answer: no failure either
            raise
        # A success: it gives back its count per IP and clears the pair (attempts of the
        # pair still in flight were counted before it, so they are forgotten with it).
        failures_release(reservation, clear=[pair])
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
