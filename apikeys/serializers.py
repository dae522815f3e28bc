from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.settings import api_settings

from apikeys.models import APIKey, KeyEvent
from apikeys.scopes import all_scopes, canonical_scopes
from apikeys.services import ReportedToken
from apiproject.api.serializers import StrictIntegerField, StrictSerializer, StringField
from apiproject.api.text import validate_single_line_text

MAX_EXPIRY_DAYS = 36_500
MAX_GRACE_SECONDS = 7 * 24 * 60 * 60
DEFAULT_GRACE_SECONDS = 24 * 60 * 60


class APIKeySerializer(serializers.ModelSerializer):
    """A key as its owner sees it: no secret, no digest (docs/api.md, "Keys through the API")."""

    id = serializers.RegexField(r"^[0-9A-Za-z]+$", source="prefix", read_only=True)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=all_scopes()), read_only=True
    )
    rate_limit = serializers.SerializerMethodField(help_text="The limit that applies, `N/m`.")
    status = serializers.SerializerMethodField()

    class Meta:
        model = APIKey
        fields = [
            "id",
            "name",
            "scopes",
            "rate_limit",
            "status",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
        ]
        read_only_fields = fields

    def get_rate_limit(self, api_key: APIKey) -> str:
        return api_key.rate_limit or settings.API_RATE_LIMIT

    def get_status(self, api_key: APIKey) -> APIKey.Status:
        return api_key.status_at(timezone.now())


class IssuedAPIKeySerializer(APIKeySerializer):
    """The one answer that carries a key's plaintext: the answer that issues it."""

    key = serializers.SerializerMethodField(help_text="The key itself, shown this once.")

    class Meta(APIKeySerializer.Meta):
        fields = [*APIKeySerializer.Meta.fields, "key"]
        read_only_fields = fields

    def get_key(self, api_key: APIKey) -> str:
        return self.context["plaintext"]


@extend_schema_field({"type": "string", "enum": all_scopes()})
class ScopeField(StringField):
    """A scope, checked by `canonical_scopes` (with its message); documented as the enum of
    the keys' own `scopes`, so a generated client has one type for both."""


class APIKeyCreateSerializer(StrictSerializer):
    """A new key of the caller's own: all optional, and no more than the calling key has."""

    name = StringField(
        required=False,
        allow_blank=True,
        max_length=APIKey._meta.get_field("name").max_length,
        validators=[validate_single_line_text],
    )
    scopes = serializers.ListField(
        child=ScopeField(),
        required=False,
        allow_empty=False,
        min_length=1,  # allow_empty is not in the OpenAPI document; minItems is
        help_text=f"Any of {', '.join(all_scopes())}; absent: the calling key's own.",
    )
    expires_in_days = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=MAX_EXPIRY_DAYS,
        help_text="Absent: the calling key's expiry, or never if it has none.",
    )

    def validate_scopes(self, scopes: list[str]) -> list[str]:
        return canonical_scopes(scopes)

    def to_service_arguments(self) -> dict[str, Any]:
        """What apikey_delegate takes: `expires_in_days` as a moment."""
        values = dict(self.validated_data)
        days = values.pop("expires_in_days", None)
        if days is not None:
            values["expires_at"] = timezone.now() + timedelta(days=days)
        return values


class APIKeyRollSerializer(StrictSerializer):
    """Rolling a key: how long the old key keeps working."""

    grace_seconds = StrictIntegerField(
        required=False,
        default=DEFAULT_GRACE_SECONDS,
        min_value=0,
        max_value=MAX_GRACE_SECONDS,
        help_text="How long the old key keeps working, 0 to 604800 seconds (7 days).",
    )


class KeyEventSerializer(serializers.ModelSerializer):
    """What happened to a key (docs/api.md, "Key events")."""

    actor = serializers.CharField(
        source="actor_name", allow_null=True, help_text="Who acted; null for the operator."
    )
    details = serializers.DictField(
        help_text="`changes` of a `changed` event, `successor` and `grace_ends_at` of a "
        "`rolled` one, `url` of a revocation by leak report; else empty."
    )

    class Meta:
        model = KeyEvent
        fields = ["type", "at", "actor", "via", "ip", "details"]
        read_only_fields = fields


class UsageDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    requests = serializers.IntegerField(help_text="Every request counted against the key.")
    errors = serializers.IntegerField(help_text="The 4xx and 5xx among them, 429s apart.")
    rate_limited = serializers.IntegerField(help_text="The 429s among them.")


class KeyUsageSerializer(serializers.Serializer):
    key_id = serializers.RegexField(r"^[0-9A-Za-z]+$")
    days = UsageDaySerializer(many=True, help_text="Oldest first, today (UTC) last.")


# --- Leak reports (docs/api.md, "Leak reports") ---------------------------------------------

MAX_REPORTED_TOKENS = 1_000
TRUE_POSITIVE = "true_positive"
FALSE_POSITIVE = "false_positive"


# An optional string of a report, taken as sent.
AS_SENT_IF_ANY = {
    "required": False,
    "allow_null": True,
    "allow_blank": True,
    "trim_whitespace": False,
}


# Not a StrictSerializer: the format is GitHub's, and a field GitHub adds must not leave a
# leaked key working, so other fields are ignored (docs/api.md, "Leak reports").
class ReportedTokenSerializer(serializers.Serializer):
    """One token of a leak report, in GitHub's format; other fields are ignored, strings are
    taken as sent (untrimmed)."""

    token = StringField(trim_whitespace=False, allow_blank=True, help_text="What was found.")
    type = StringField(
        trim_whitespace=False, allow_blank=True, help_text="The reporter's name for its kind."
    )
    url = StringField(
        **AS_SENT_IF_ANY, help_text="Where it was found; kept in the revocation's event."
    )
    source = StringField(
        **AS_SENT_IF_ANY, help_text="Which kind of scan found it (`content`, `commit`, ...)."
    )


class LeakVerdictSerializer(serializers.Serializer):
    """What became of one reported token, in GitHub's format."""

    token_raw = serializers.CharField(help_text="The reported `token`, as sent.")
    token_type = serializers.CharField(help_text="The reported `type`, as sent.")
    label = serializers.ChoiceField(
        choices=[TRUE_POSITIVE, FALSE_POSITIVE],
        help_text="`true_positive`: one of our working keys when the report arrived, revoked "
        "now; `false_positive`: anything else, left as it was.",
    )


def reported_tokens(data: Any) -> list[ReportedToken]:
    """A leak report's parsed body as its tokens: a JSON array of at most
    MAX_REPORTED_TOKENS objects, each valid for ReportedTokenSerializer. Else a ValidationError
    listing every problem, an item's fields named by its index from 0 (`[3].token`)."""
    if not isinstance(data, list):
        raise serializers.ValidationError("A leak report is a JSON array of reported tokens.")
    if len(data) > MAX_REPORTED_TOKENS:
        raise serializers.ValidationError(
            f"A leak report holds at most {MAX_REPORTED_TOKENS:,} tokens, not {len(data):,}."
        )
    reported: list[ReportedToken] = []
    errors: dict[str, Any] = {}
    for index, item in enumerate(data):
        serializer = ReportedTokenSerializer(data=item)
        if serializer.is_valid():
            reported.append(ReportedToken(**serializer.validated_data))
            continue
        for name, messages in serializer.errors.items():
            field = (
                f"[{index}]" if name == api_settings.NON_FIELD_ERRORS_KEY else f"[{index}].{name}"
            )
            errors[field] = messages
    if errors:
        raise serializers.ValidationError(errors)
    return reported
