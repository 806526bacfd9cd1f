"""Shapes of the hotline and city-centre API: a case coming in, its status going out, pushed changes."""

from rest_framework import serializers

from linli.grid.models import State, Urgency

from .. import services
from ..models import OutboundPush, PublicStatus, RequestType


class CaseInSerializer(serializers.Serializer):
    upstream_id = serializers.CharField(
        max_length=64, help_text="The case's id in your system; the same id again returns the same case."
    )
    request_type = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text=(
            "12345 class: consultation, help, complaint, report or suggestion, or the Chinese word "
            "(咨询, 求助, 投诉, 举报, 建议). Required from the hotline."
        ),
    )
    category_code = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        help_text="Your category code (mapped by the district) or ours; empty: the client's default.",
    )
    title = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=4000, required=False, allow_blank=True)
    lon = serializers.FloatField(required=False, allow_null=True, help_text="WGS-84 longitude.")
    lat = serializers.FloatField(required=False, allow_null=True, help_text="WGS-84 latitude.")
    grid_code = serializers.RegexField(
        r"^\d{15}$", required=False, allow_blank=True, help_text="The 15-digit grid, when there is no point."
    )
    address = serializers.CharField(max_length=256, required=False, allow_blank=True)
    urgency = serializers.ChoiceField(choices=Urgency.choices, default=Urgency.NORMAL)
    requester_name = serializers.CharField(max_length=50, required=False, allow_blank=True)
    requester_phone = serializers.CharField(
        max_length=20, required=False, allow_blank=True, help_text="Mainland mobile number."
    )
    anonymous = serializers.BooleanField(default=False)
    due_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Your deadline for the case (kept and shown back)."
    )

    def validate(self, data):
        if (data.get("lon") is None) != (data.get("lat") is None):
            raise serializers.ValidationError({"lat": "Give both lon and lat, or neither."})
        return data


class StepSerializer(serializers.Serializer):
    update_id = serializers.CharField()
    action = serializers.CharField()
    state = serializers.ChoiceField(choices=State.choices)
    status = serializers.ChoiceField(choices=PublicStatus.choices)
    note = serializers.CharField()
    at = serializers.DateTimeField()


class CaseSerializer(serializers.Serializer):
    number = serializers.CharField(help_text="Our event number (the Open311 service_request_id).")
    created = serializers.BooleanField(help_text="False when the upstream id was already a case.")
    upstream_system = serializers.CharField()
    upstream_id = serializers.CharField()
    request_type = serializers.ChoiceField(choices=RequestType.choices, allow_blank=True)
    category_code = serializers.CharField()
    category_name = serializers.CharField()
    grid_code = serializers.CharField()
    state = serializers.ChoiceField(choices=State.choices)
    state_label = serializers.CharField()
    status = serializers.ChoiceField(choices=PublicStatus.choices)
    status_notes = serializers.CharField(allow_blank=True)
    department = serializers.CharField(allow_blank=True)
    reported_at = serializers.DateTimeField()
    expected_at = serializers.DateTimeField(allow_null=True, help_text="When handling is due (our clock).")
    upstream_due_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    closed_on_time = serializers.BooleanField(allow_null=True)
    satisfaction = serializers.IntegerField(allow_null=True)
    steps = StepSerializer(many=True, help_text="The public steps so far, oldest first.")


def case_data(received_event, created: bool) -> dict:
    """A case's status as the hotline or city sees it: no names of staff or reporter, notes masked."""
    event = received_event
    submission = getattr(event, "exchange_submission", None)
    return {
        "number": event.number,
        "created": created,
        "upstream_system": event.upstream_system,
        "upstream_id": event.upstream_id,
        "request_type": submission.request_type if submission else "",
        "category_code": event.category.code,
        "category_name": event.category.name,
        "grid_code": event.region_code,
        "state": event.state,
        "state_label": str(event.get_state_display()),
        "status": services.open311_status(event.state),
        "status_notes": services.status_note(event),
        "department": event.department.name if event.department_id else "",
        "reported_at": event.created_at,
        "expected_at": event.handle_due_at,
        "upstream_due_at": submission.upstream_due_at if submission else None,
        "closed_at": event.closed_at,
        "closed_on_time": event.closed_on_time,
        "satisfaction": event.satisfaction,
        "steps": [
            {
                "update_id": str(step.pk),
                "action": step.action,
                "state": step.to_state,
                "status": services.open311_status(step.to_state),
                "note": services.public_text(step.note, event),
                "at": step.at,
            }
            for step in services.public_steps(event)
        ],
    }


class PushSerializer(serializers.ModelSerializer):
    class Meta:
        model = OutboundPush
        fields = ["id", "update_id", "operation", "payload", "created_at", "delivered_at"]
