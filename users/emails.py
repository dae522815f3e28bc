"""One spelling per email address (docs/api.md, "Users")."""

import unicodedata
from encodings import idna


def normalize_email(email: str) -> str:
    """The address as stored: the local part as given, the domain lowercased and in its
    Unicode form (NFC), whether it was sent that way or as IDNA (`xn--`), so
    `a@exämple.com` and `a@xn--exmple-cua.com` are one address.

    Django's `normalize_email` lowercases the domain only: the two spellings would make two
    users, and the unique constraint on the lowercased email could not tell.
    """
    local, at, domain = email.rpartition("@")
    if not at:
        return email
    labels = [_unicode_label(label) for label in domain.lower().split(".")]
    return f"{local}@{unicodedata.normalize('NFC', '.'.join(labels).lower())}"


def _unicode_label(label: str) -> str:
    if not label.startswith("xn--"):
        return label
    try:
        return idna.ToUnicode(label)
    except UnicodeError:
        return label  # not valid IDNA: kept as sent, one spelling still
