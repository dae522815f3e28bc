import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from apikeys.selectors import apikey_list
from apikeys.services import apikey_issue, apikeys_revoke
from projects.models import Project
from users.models import User
from users.selectors import user_get_by_username

DEV_USERNAME = "dev"
DEV_KEY_NAME = "make run development key"
SAMPLE_PROJECTS = [
    ("Website relaunch", "New landing pages and a faster checkout."),
    ("Mobile app", "iOS and Android clients for the public API."),
    ("Data warehouse", "Nightly exports into the analytics store."),
    ("Billing v2", "Usage-based invoices."),
    ("Internal tools", "Scripts and dashboards for the support team."),
]


class Command(BaseCommand):
    help = (
        "DEVELOPMENT ONLY (refuses to run unless DJANGO_DEBUG=1): ensure a staff user with "
        "sample projects, issue a fresh development key (revoking the previous one) and print "
        "a ready-to-paste curl line and the admin login."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, base_url: str, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("devsetup is for development only: set DJANGO_DEBUG=1")
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            user = user_get_by_username(username=DEV_USERNAME)
            created = user is None
            if created:
                user = User(username=DEV_USERNAME, email="dev@example.com")
            user.is_staff = user.is_superuser = user.is_active = True
            # A new password on every run: no plaintext is kept anywhere to show again.
            user.set_password(password)
            user.save()
            if created or not user.projects.exists():
                Project.objects.bulk_create(
                    Project(owner=user, name=name, description=description)
                    for name, description in SAMPLE_PROJECTS
                )
            apikeys_revoke(api_keys=apikey_list(owner=user).filter(name=DEV_KEY_NAME))
            issued = apikey_issue(owner=user, name=DEV_KEY_NAME)

        base_url = base_url.rstrip("/")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "== DEVELOPMENT SETUP (DJANGO_DEBUG=1, not for production) ==",
                    f"Staff user {DEV_USERNAME!r} ({'created' if created else 'exists'}), "
                    f"{user.projects.count()} projects.",
                    f"Admin:  {base_url}/admin/  user {DEV_USERNAME}  password {password}",
                    f"Docs:   {base_url}/api/docs",
                    f"API key (new on every run; the previous one is revoked): {issued.plaintext}",
                    "Try it:",
                    f'  curl -H "Authorization: Bearer {issued.plaintext}" '
                    f'"{base_url}/api/v1/projects?page=1&limit=20"',
                    "",
                ]
            )
        )
