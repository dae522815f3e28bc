"""What drf-spectacular cannot read off UserCreateSerializer, for the OpenAPI document."""

from typing import Any

from django.contrib.auth import password_validation
from django.contrib.auth.password_validation import MinimumLengthValidator


def document_user_creation(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: usernames are ASCII (spectacular drops the validator's ASCII
    flag, so its `\\w` would admit any letter), and passwords have the validators' minimum
    length."""
    schema = result["components"]["schemas"]["UserCreate"]
    schema["properties"]["username"]["pattern"] = r"^[A-Za-z0-9.@+_-]+$"
    for validator in password_validation.get_default_password_validators():
        if isinstance(validator, MinimumLengthValidator):
            schema["properties"]["password"]["minLength"] = validator.min_length
    return result
