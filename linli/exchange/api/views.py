"""The 12345 hotline and city operations centre API: file a case once, read its status, pull its changes."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from linli.core.identifiers import parse_mobile
from linli.grid.models import Event

from .. import services
from ..models import ClientKind, OutboundPush
from ..services import CaseIn, IntakeConflict, Place
from .auth import ApiKeyAuthentication, IsIntakeClient
from .serializers import CaseInSerializer, CaseSerializer, PushSerializer, case_data


class ClientView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsIntakeClient]

    @property
    def client(self):
        return self.request.auth


def _detail(client, event: Event, created: bool) -> dict:
    event = (
        services.readable_events(client)
        .select_related("category__parent", "department", "exchange_submission")
        .get(pk=event.pk)
    )
    return CaseSerializer(case_data(event, created)).data


class Conflict(serializers.ValidationError):
    status_code = status.HTTP_409_CONFLICT


class CaseCreateView(ClientView):
    @extend_schema(
        operation_id="exchange_case_create",
        summary="File a case from the 12345 hotline or the city operations centre",
        description=(
            "Idempotent on the client's upstream system and `upstream_id`: the same case again answers 200 "
            "with the event made the first time, a new one 201. The place is a WGS-84 point, or a 15-digit "
            "grid code, or neither (the client's fallback grid). Requester's name and phone are stored "
            "encrypted and never shown back."
        ),
        request=CaseInSerializer,
        responses={201: CaseSerializer, 200: CaseSerializer},
        examples=[
            OpenApiExample(
                "12345 complaint",
                request_only=True,
                value={
                    "upstream_id": "12345-20261129-000123",
                    "request_type": "投诉",
                    "category_code": "06010",
                    "title": "小区门口垃圾堆积三天无人清理",
                    "lon": 117.005,
                    "lat": 36.605,
                    "requester_name": "王先生",
                    "requester_phone": "13800138000",
                    "due_at": "2026-12-16T18:00:00+08:00",
                },
            )
        ],
    )
    def post(self, request):
        data = CaseInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        client = self.client
        errors = {}
        request_type = values.get("request_type") or ""
        if request_type:
            try:
                request_type = services.parse_request_type(request_type)
            except DjangoValidationError as exc:
                errors.update(exc.message_dict)
        elif client.kind == ClientKind.HOTLINE:
            errors["request_type"] = ["The hotline must say which of the five classes the case is."]
        code = values.get("category_code") or ""
        category = services.resolve_category(client, code)
        if category is None:
            errors["category_code"] = [
                f"Unknown category code {code!r}; ask the district to map it."
                if code
                else "This field is required."
            ]
        phone = values.get("requester_phone") or ""
        if phone:
            try:
                phone = parse_mobile(phone).number
            except DjangoValidationError as exc:
                errors["requester_phone"] = exc.messages
        if errors:
            raise serializers.ValidationError(errors)
        case = CaseIn(
            category=category,
            title=values["title"],
            place=Place(
                lon=values.get("lon"),
                lat=values.get("lat"),
                grid_code=values.get("grid_code") or None,
                address=values.get("address") or "",
            ),
            description=values.get("description") or "",
            upstream_id=values["upstream_id"].strip(),
            request_type=request_type,
            external_category=code,
            reporter_name=values.get("requester_name") or "",
            reporter_phone=phone,
            anonymous=values["anonymous"],
            urgency=values["urgency"],
            upstream_due_at=values.get("due_at"),
        )
        try:
            received = services.receive(client, case)
        except IntakeConflict:
            raise Conflict({"upstream_id": ["This id is already a case outside your region."]}) from None
        except DjangoValidationError as exc:
            detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
            raise serializers.ValidationError(detail) from None
        return Response(
            _detail(client, received.event, received.created),
            status=status.HTTP_201_CREATED if received.created else status.HTTP_200_OK,
        )


class CaseDetailView(ClientView):
    @extend_schema(
        operation_id="exchange_case_status",
        summary="The status of a case you sent, by your upstream id",
        responses={200: CaseSerializer},
    )
    def get(self, request, upstream_id):
        client = self.client
        rows = services.readable_events(client).filter(upstream_system=client.system, upstream_id=upstream_id)
        event = get_object_or_404(rows)
        return Response(_detail(client, event, created=False))


class UpdateListView(ClientView):
    @extend_schema(
        operation_id="exchange_updates",
        summary="Status changes recorded for you, oldest first (pull instead of, or besides, the push)",
        parameters=[
            OpenApiParameter(
                "after", int, description="Only changes after this id (the last `id` you have seen)."
            ),
            OpenApiParameter("limit", int, description="At most this many (1–500, default 100)."),
        ],
        responses={200: PushSerializer(many=True)},
    )
    def get(self, request):
        try:
            after = int(request.query_params.get("after") or 0)
            limit = min(max(int(request.query_params.get("limit") or 100), 1), 500)
        except ValueError:
            raise serializers.ValidationError({"after": ["after and limit must be whole numbers."]}) from None
        rows = OutboundPush.objects.filter(client=self.client, id__gt=after).order_by("id")[:limit]
        return Response(PushSerializer(rows, many=True).data)
