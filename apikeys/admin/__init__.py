"""The API keys' admin: the keys' own pages (keys.py) and what keys add to a user's page
(user_page.py)."""

from apikeys.admin.keys import APIKeyAdmin
from apikeys.admin.user_page import UserAdminWithKeys

__all__ = ["APIKeyAdmin", "UserAdminWithKeys"]
