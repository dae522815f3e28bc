"""Request bodies: JSON objects whose fields are exactly what an operation takes."""

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers


class JSONStringMixin:
    """Takes JSON strings only: DRF's CharField would turn 12 or true into text."""

    default_error_messages = {
        "not_a_string": "Must be a string.",
        "not_text": "Must be valid Unicode text.",
    }

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("not_a_string")
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate escape such as "\ud800"
            self.fail("not_text")
        return super().to_internal_value(data)


class StringField(JSONStringMixin, serializers.CharField):
    pass


class EmailStringField(JSONStringMixin, serializers.EmailField):
    pass


class StrictIntegerField(serializers.IntegerField):
    """Takes JSON integers only: DRF's IntegerField would take "5", 5.0 and true."""

    default_error_messages = {"not_an_integer": "Must be a whole number."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("not_an_integer")
        return super().to_internal_value(data)


class StrictSerializer(serializers.Serializer):
    """A body whose unknown fields are refused by name, even with a null value
    (docs/api.md, "Transport"), so a typo or an `is_staff` never passes silently.

    `null_as_absent` names the fields for which `null` counts as not sent. Every problem is
    listed at once: the fields' own, then `extra_errors()`, then the unknown fields.
    """

    null_as_absent: tuple[str, ...] = ()

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            return super().to_internal_value(data)
        present = {
            name: value
            for name, value in data.items()
            if not (value is None and name in self.null_as_absent)
        }
        errors: dict[str, Any] = {}
        values: dict[str, Any] = {}
        try:
            values = super().to_internal_value(present)
        except serializers.ValidationError as exc:
            errors = dict(exc.detail)
        errors.update(self.extra_errors(present, errors))
        for name in sorted(data.keys() - self.fields.keys()):
            # A name with a lone surrogate ("\ud800") cannot be written back as UTF-8.
            errors[name.encode("utf-8", "backslashreplace").decode()] = ["Unknown field."]
        if errors:
            raise serializers.ValidationError(errors)
        return values

    def extra_errors(
        self, present: Mapping[str, Any], errors: Mapping[str, Any]
    ) -> dict[str, list[str]]:
        """Problems that need several fields at once, listed beside the fields' own."""
        return {}
