"""Text a person types (names, descriptions): no control characters and no bidirectional
overrides (contract sections 4 and 10), so no stored value can rewrite a terminal or
disguise itself on a page."""

import unicodedata

from django.core.exceptions import ValidationError

BIDIRECTIONAL_OVERRIDES = frozenset(
    chr(code) for code in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)
MULTILINE_ALLOWED = frozenset("\n\t")


def forbidden_character(text: str, *, allowed: frozenset[str] = frozenset()) -> str | None:
    """The first control character (category Cc) or bidirectional override in `text` that is
    not `allowed`, or None."""
    for character in text:
        if character in allowed:
            continue
        if character in BIDIRECTIONAL_OVERRIDES or unicodedata.category(character) == "Cc":
            return character
    return None


def _refuse(character: str) -> None:
    raise ValidationError(
        "Must not contain control characters or bidirectional overrides "
        f"(found U+{ord(character):04X}).",
        code="forbidden_character",
    )


def validate_single_line_text(value: str) -> None:
    """Validator for names: no control character at all, not even a newline or a tab."""
    if (character := forbidden_character(value)) is not None:
        _refuse(character)


def validate_multiline_text(value: str) -> None:
    """Validator for descriptions: newlines and tabs allowed, other control characters not."""
    if (character := forbidden_character(value, allowed=MULTILINE_ALLOWED)) is not None:
        _refuse(character)
