from collections.abc import Mapping
from typing import Any

from django.contrib.auth import password_validation
from django.contrib.auth.validators import ASCIIUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from apiproject.api.serializers import EmailStringField, StrictSerializer, StringField
from users.emails import normalize_email
from users.models import User
from users.selectors import user_email_taken, user_username_taken


class UserSerializer(serializers.ModelSerializer):
    id = serializers.RegexField(r"^[1-9][0-9]*$", source="pk", read_only=True)
    created_at = serializers.DateTimeField(source="date_joined", read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "email", "created_at"]
        read_only_fields = fields


class UserCreateSerializer(StrictSerializer):
    """A new user's username, email and password; any other field is refused."""

    username = StringField(max_length=150, validators=[ASCIIUsernameValidator()])
    email = EmailStringField(max_length=254)
    password = StringField(trim_whitespace=False, write_only=True)

    null_as_absent = ("username", "email", "password")

    def extra_errors(
        self, present: Mapping[str, Any], errors: Mapping[str, Any]
    ) -> dict[str, list[str]]:
        # The password is judged here rather than in validate(), so its problems are listed
        # beside the other fields' instead of only once they are all valid.
        if "password" in errors or "password" not in present:
            return {}
        problems = self._password_problems(present)
        return {"password": problems} if problems else {}

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
