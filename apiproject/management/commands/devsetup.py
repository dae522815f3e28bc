import os
import secrets
from pathlib import Path
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
# Beside manage.py and git-ignored: the development admin password, made once and kept, so a
# restart of `make run` neither changes it nor logs anyone out.
PASSWORD_FILE = Path(settings.BASE_DIR) / ".dev-admin-password"
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
        "DEVELOPMENT ONLY (refuses to run unless DJANGO_DEBUG=1): ensure a superuser `dev` "
        "with sample projects and a password kept in a git-ignored file, issue a fresh "
        "development key (revoking the previous one) and print a ready-to-paste curl line "
        "and the admin login."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument(
            "--password-file",
            type=Path,
            default=None,
            help=f"Where the admin password is kept (default: {PASSWORD_FILE.name} beside "
            "manage.py); made on the first run.",
        )

    def handle(self, *args: Any, base_url: str, password_file: Path | None, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("devsetup is for development only: set DJANGO_DEBUG=1")
        password = _kept_password(password_file or PASSWORD_FILE)
        with transaction.atomic():
            user = user_get_by_username(username=DEV_USERNAME)
            created = user is None
            if created:
                user = User(username=DEV_USERNAME, email="dev@example.com")
            user.is_staff = user.is_superuser = user.is_active = True
            # Set only when it differs: a new hash would end every session of `dev`.
            if not user.check_password(password):
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
                    f"Superuser {DEV_USERNAME!r} ({'created' if created else 'exists'}), "
                    f"{user.projects.count()} projects.",
                    f"Admin:  {base_url}/admin/  user {DEV_USERNAME}  password {password}"
                    f"  (kept in {(password_file or PASSWORD_FILE).name})",
                    f"Docs:   {base_url}/api/docs",
                    f"API key (new on every run; the previous one is revoked): {issued.plaintext}",
                    "Try it:",
                    f'  curl -H "Authorization: Bearer {issued.plaintext}" '
                    f'"{base_url}/api/v1/projects?page=1&limit=20"',
                    "",
                ]
            )
        )


def _kept_password(path: Path) -> str:
    """The development password kept at `path`, made (random, owner-only file) if missing."""
    try:
        password = path.read_text().strip()
    except FileNotFoundError:
        password = ""
    if not password:
        password = secrets.token_urlsafe(12)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as kept:
            kept.write(password + "\n")
    return password
