"""The admin as the browser tests drive it."""

from tests.factories import DEFAULT_PASSWORD


def log_in(page, base_url: str, username: str) -> None:
    """Log in to admin on this Playwright page as `username` (with the factories' password)."""
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEFAULT_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
