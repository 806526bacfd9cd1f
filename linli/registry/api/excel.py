"""API of Excel collection: upload a workbook (multipart) as an import job, follow the job, export."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from linli.core.scope import code_within

from .. import exports, imports, services
from ..models import ImportJob
from ..views_excel import start_import, xlsx_response
from .views import RegistryAccess


class ImportJobSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "kind",
            "status",
            "region_code",
            "file_name",
            "keep_valid",
            "total",
            "processed",
            "created",
            "updated",
            "unchanged",
            "error_count",
            "errors",
            "message",
            "created_at",
            "finished_at",
            "progress",
        ]
        read_only_fields = fields

    def get_progress(self, job) -> dict:
        return imports.job_progress(job)


class ImportUploadSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ImportJob.Kind.choices)
    file = serializers.FileField()
    region = serializers.CharField(help_text="Region code for rows without one; inside your scope.")
    keep_valid = serializers.BooleanField(default=False)


class ImportListView(APIView):
    permission_classes = [RegistryAccess]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request=ImportUploadSerializer, responses={202: ImportJobSerializer})
    def post(self, request):
        """Upload an .xlsx workbook; the import runs in the background. Errors name row, column and reason."""
        upload = ImportUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        try:
            job = start_import(request.user, data["kind"], data["file"], data["region"], data["keep_valid"])
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from None
        job.refresh_from_db()
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportDetailView(APIView):
    permission_classes = [RegistryAccess]

    @extend_schema(responses=ImportJobSerializer)
    def get(self, request, pk):
        """An import job of yours: status, progress, counts and the first errors (identifiers masked)."""
        job = ImportJob.objects.visible_to(request.user).filter(pk=pk, created_by=request.user).first()
        if job is None:
            raise Http404
        return Response(ImportJobSerializer(job).data)


class ExportView(APIView):
    permission_classes = [RegistryAccess]

    @extend_schema(
        parameters=[OpenApiParameter("region", str, description="Region code inside your scope")],
        responses={(200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"): bytes},
        description="Your scope as .xlsx, personal fields masked as you see them by default; audited.",
    )
    def get(self, request, kind):
        if kind not in ImportJob.Kind.values:
            raise Http404
        region_code = request.query_params.get("region") or None
        if region_code and not code_within(region_code, request.user.scope_codes):
            raise Http404
        if not services.can_read(request.user):
            raise PermissionDenied()
        data = exports.export_workbook(request.user, kind, region_code=region_code, request=request)
        return xlsx_response(data, f"linli-{kind}.xlsx")
