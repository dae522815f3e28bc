from django.contrib.admin.apps import AdminConfig


class APIAdminConfig(AdminConfig):
    """django.contrib.admin with our site (login attempts limited)."""

    default_site = "apiproject.admin_site.APIAdminSite"
