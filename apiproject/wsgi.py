"""WSGI entry point: `gunicorn apiproject.wsgi`."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apiproject.settings")

# What django.core.wsgi.get_wsgi_application() does, with our handler.
django.setup(set_prefix=False)

from apiproject.api.handlers import APIWSGIHandler  # noqa: E402  (needs the apps loaded)

application = APIWSGIHandler()
