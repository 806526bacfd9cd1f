"""Console pages for Excel collection: templates, upload with progress (htmx), results, error sheets, export.

Thin adapters over ``imports`` and ``exports``: the page checks role and scope, starts a job, and shows what
the job records. An import runs in the embedded worker (a thread, see ``imports.start_job``).
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from linli.core.audit import record
from linli.core.context_processors import switchable_regions
from linli.core.models import Region
from linli.core.scope import code_within

from . import excel, exports, imports
from .models import ImportJob
from .views import _editor, _reader  # the registry pages' role gates, one definition

KINDS = dict(ImportJob.Kind.choices)


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise Http404
    return kind


def xlsx_response(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=excel.XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{filename}"
    response["Cache-Control"] = "no-store"
    return response


def start_import(user, kind: str, upload, region_code: str, keep_valid: bool) -> ImportJob:
    """Create the job of an upload and start it; raises PermissionDenied outside the user's scope."""
    region = Region.objects.visible_to(user).filter(code=region_code).first()
    if region is None:
        raise PermissionDenied(_("Region %(code)s is outside your scope.") % {"code": region_code})
    job = ImportJob.objects.create(
        kind=kind,
        region=region,
        region_code=region.code,
        created_by=user,
        file_name=(getattr(upload, "name", "") or "")[:200],
        keep_valid=keep_valid,
    )
    data = b""
    limit = excel.max_bytes()
    if upload.size <= limit:
        data = upload.read()
    else:
        # Do not read an over-size upload: a single byte past the limit gives the same message.
        data = upload.read(limit + 1)
    imports.start_job(job, data)
    return job


@login_required
def template_view(request, kind):
    _reader(request)
    return xlsx_response(excel.template_workbook(_kind(kind)), f"linli-{kind}-template.xlsx")


@login_required
@never_cache
def import_view(request):
    user = _editor(request)
    error = ""
    if request.method == "POST":
        kind = request.POST.get("kind", "")
        upload = request.FILES.get("file")
        region_code = request.POST.get("region") or request.region_code or (user.scope_codes or [""])[0]
        if kind not in KINDS:
            error = _("Choose what the file holds.")
        elif upload is None:
            error = _("Choose a file to upload.")
        else:
            job = start_import(user, kind, upload, region_code, request.POST.get("keep_valid") == "on")
            return redirect("registry:import_job", pk=job.pk)
    current = Region.objects.filter(code=request.region_code).first() if request.region_code else None
    return render(
        request,
        "registry/import.html",
        {
            "kinds": KINDS,
            "regions": switchable_regions(user, current),
            "region": request.region_code,
            "error": error,
            "jobs": ImportJob.objects.visible_to(user).filter(created_by=user)[:10],
            "max_mb": excel.max_bytes() // (1024 * 1024),
            "max_rows": excel.max_rows(),
        },
    )


def _job(request, pk) -> ImportJob:
    user = _reader(request)
    job = ImportJob.objects.visible_to(user).filter(pk=pk, created_by=user).first()
    if job is None:
        raise Http404
    return job


def _job_context(job):
    errors = [imports.RowError(**e) for e in job.errors]
    return {"job": job, "progress": imports.job_progress(job), "errors": errors}


@login_required
@never_cache
def import_job_view(request, pk):
    job = _job(request, pk)
    template = (
        "registry/_import_progress.html" if request.headers.get("HX-Request") else "registry/import_job.html"
    )
    return render(request, template, _job_context(job))


@login_required
def import_errors_view(request, pk):
    job = _job(request, pk)
    if not job.error_sheet:
        raise Http404
    record(
        "import_errors_downloaded",
        actor=request.user,
        request=request,
        target=job,
        region_code=job.region_code,
    )
    return xlsx_response(imports.error_sheet_bytes(job), f"linli-import-{job.pk}-errors.xlsx")


@login_required
@never_cache
def export_view(request):
    user = _reader(request)
    kind = request.GET.get("kind")
    if kind:
        region_code = request.GET.get("region") or request.region_code
        if region_code and not code_within(region_code, user.scope_codes):
            raise Http404
        data = exports.export_workbook(user, _kind(kind), region_code=region_code, request=request)
        return xlsx_response(data, f"linli-{kind}-{region_code or 'scope'}.xlsx")
    current = Region.objects.filter(code=request.region_code).first() if request.region_code else None
    return render(
        request,
        "registry/export.html",
        {
            "kinds": KINDS,
            "regions": switchable_regions(user, current),
            "region": request.region_code,
            "export_url": reverse("registry:export"),
        },
    )
