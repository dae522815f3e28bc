"""The projects admin's pages as the tests post them."""

from users.models import User


def project_form(owner: User, **fields: object) -> dict[str, object]:
    """The add or change form of a project, as the page would submit it."""
    return {
        "owner": owner.pk,
        "name": "Apollo",
        "description": "",
        "created_at_0": "2024-01-02",
        "created_at_1": "03:04:05",
        "_save": "Save",
        **fields,
    }
