from collections.abc import Mapping
from typing import Any

from django.contrib.auth import password_validation
from django.contrib.auth.validators import ASCIIUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from users.emails import normalize_email
from users.models import User
from users.selectors import user_email_taken, user_username_taken


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


class UserSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="pk", read_only=True)
    created_at = serializers.DateTimeField(source="date_joined", read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "email", "created_at"]
        read_only_fields = fields


class UserCreateSerializer(serializers.Serializer):
    """A new user's username, email and password; any other field is refused."""

    username = StringField(max_length=150, validators=[ASCIIUsernameValidator()])
    email = EmailStringField(max_length=254)
    password = StringField(trim_whitespace=False, write_only=True)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            return super().to_internal_value(data)
        present = {name: value for name, value in data.items() if value is not None}
        errors: dict[str, Any] = {}
        values: dict[str, Any] = {}
        try:
            values = super().to_internal_value(present)
        except serializers.ValidationError as exc:
            errors = dict(exc.detail)
        # The password is judged here rather than in validate(), so its problems are listed
        # beside the other fields' instead of only once they are all valid.
        if "password" not in errors and "password" in present:
            problems = self._password_problems(present)
            if problems:
                errors["password"] = problems
        for name in sorted(data.keys() - self.fields.keys()):
            # A name with a lone surrogate ("\ud800") cannot be written back as UTF-8.
            errors[name.encode("utf-8", "backslashreplace").decode()] = ["Unknown field."]
        if errors:
            raise serializers.ValidationError(errors)
        return values

    def validate_username(self, username: str) -> str:
        if user_username_taken(username=username):
            raise serializers.ValidationError(
                "A user with that username already exists.", code="unique"
            )
        return username

    def validate_email(self, email: str) -> str:
        # As stored: lowercasing the domain can lengthen it ("İ" becomes two characters).
        normalized = normalize_email(email)
        max_length = User._meta.get_field("email").max_length
        if len(normalized) > max_length:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {max_length} characters.",
                code="max_length",
            )
        if user_email_taken(email=normalized):
            raise serializers.ValidationError(
                "A user with that email already exists.", code="unique"
            )
        return normalized

    @staticmethod
    def _password_problems(present: Mapping[str, Any]) -> list[str]:
        attributes = {
            name: value
            for name in ("username", "email")
            if isinstance(value := present.get(name), str)
        }
        try:
            password_validation.validate_password(present["password"], user=User(**attributes))
        except DjangoValidationError as exc:
            return list(exc.messages)
        return []
