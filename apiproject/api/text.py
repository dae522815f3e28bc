"""Text a person types (names, descriptions) and text printed to an operator's terminal
(docs/api.md, "Names people type").

Stored text holds no control characters (Unicode category Cc; a description may keep newline
and tab) and no bidirectional overrides, so a stored name cannot move a terminal's cursor,
erase a line or reorder what is shown around it. Whatever else is not printable (U+200B,
U+2028, ...) may be stored but is escaped wherever a command prints it.
"""

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

# The embeddings and overrides (U+202A..U+202E) and the isolates (U+2066..U+2069).
BIDI_OVERRIDES = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))


def forbidden_characters(text: str, *, allow: str = "") -> list[str]:
    """The characters of `text` a person's text may not hold, in order, each once."""
    found: dict[str, None] = {}
    for char in text:
        if char in allow:
            continue
        if unicodedata.category(char) == "Cc" or char in BIDI_OVERRIDES:
            found[char] = None
    return list(found)


@deconstructible
class PlainTextValidator:
    """Model and form validator: no control characters but `allow`, no bidi overrides."""

    code = "control_characters"

    def __init__(self, allow: str = "") -> None:
        self.allow = allow

    def __call__(self, value: str) -> None:
        found = forbidden_characters(value, allow=self.allow)
        if found:
            raise ValidationError(
                "May not contain control characters or bidirectional overrides (found %(found)s).",
                code=self.code,
                params={"found": ", ".join(f"U+{ord(char):04X}" for char in found)},
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PlainTextValidator) and other.allow == self.allow

    def __hash__(self) -> int:
        return hash(self.allow)


# Names are one line; descriptions may have lines and tabs.
validate_single_line_text = PlainTextValidator()
validate_multiline_text = PlainTextValidator(allow="\n\t")


def escape_unprintable(text: str) -> str:
    """`text` with every character that is not printable (str.isprintable() false: controls,
    U+200B, U+2028, bidi marks...) written as a Python escape (`\\x1b`, `\\u200b`), so
    printing it can never change what a terminal shows around it. Printable text, non-ASCII
    letters included, is left alone; a backslash is doubled so an escape cannot be faked."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char.isprintable():
            out.append(char)
        else:
            out.append(repr(char)[1:-1])  # Python escapes exactly the unprintable characters
    return "".join(out)
