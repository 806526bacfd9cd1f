"""Staff console pages: login with two-factor, password change, region switching and the region tree."""

import segno
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import services
from .audit import AuditAction, AuditLog, record
from .forms import LoginForm, PasswordChangeForm, RegionSwitchForm, TotpForm
from .middleware import CURRENT_REGION
from .models import Region, Role, User
from .scope import code_within

PENDING_USER = "linli_pending_user"
PENDING_NEXT = "linli_pending_next"
AUDIT_PAGE_ROWS = 200


def _safe_next(request, candidate: str | None) -> str | None:
    if candidate and url_has_allowed_host_and_scheme(candidate, {request.get_host()}):
        return candidate
    return None


def _finish_login(request, user: User):
    next_url = request.session.pop(PENDING_NEXT, None)
    request.session.pop(PENDING_USER, None)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    services.record_login(user, request)
    return redirect(next_url or "core:home")


def login_view(request):
    if request.user.is_authenticated:
        return redirect("core:home")
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = services.check_password_login(
            form.cleaned_data["username"], form.cleaned_data["password"], request
        )
        if result.user is None:
            form.add_error(None, services.login_error_message())
        else:
            request.session.cycle_key()
            request.session[PENDING_NEXT] = _safe_next(request, request.GET.get("next"))
            if result.needs_totp or result.needs_totp_enrolment:
                request.session[PENDING_USER] = result.user.pk
                return redirect("core:totp_enrol" if result.needs_totp_enrolment else "core:totp")
            return _finish_login(request, result.user)
    return render(request, "core/login.html", {"form": form})


def _pending_user(request) -> User | None:
    pk = request.session.get(PENDING_USER)
    return User.objects.filter(pk=pk, is_active=True).first() if pk else None


def totp_view(request):
    user = _pending_user(request)
    if user is None or not user.totp_confirmed:
        return redirect("core:login")
    form = TotpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if services.is_locked(user):
            request.session.pop(PENDING_USER, None)
            messages.error(request, services.login_error_message())
            return redirect("core:login")
        if services.verify_totp(user, form.cleaned_data["code"], request):
            return _finish_login(request, user)
        form.add_error("code", _("The code is not right. Check your phone’s clock and try the newest code."))
    return render(request, "core/totp.html", {"form": form, "enrol": False})


def totp_enrol_view(request):
    user = _pending_user(request)
    if user is None:
        return redirect("core:login")
    secret = services.start_totp_enrolment(user)
    form = TotpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if services.verify_totp(user, form.cleaned_data["code"], request, enrol=True):
            messages.success(request, _("Two-factor authentication is now on for your account."))
            return _finish_login(request, user)
        form.add_error("code", _("The code is not right. Scan the QR code again and enter the newest code."))
    qr_svg = segno.make(services.totp_uri(user)).svg_inline(scale=4)
    # Grouped in fours, as authenticator apps show it, so that typing it by hand is less error-prone.
    secret_groups = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return render(
        request,
        "core/totp.html",
        {"form": form, "enrol": True, "secret": secret, "secret_groups": secret_groups, "qr_svg": qr_svg},
    )


@require_POST
def logout_view(request):
    if request.user.is_authenticated:
        record(AuditAction.LOGOUT, actor=request.user, request=request)
    logout(request)
    return redirect("core:login")


@login_required
def password_change_view(request):
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.change_password(request.user, form.cleaned_data["new_password"], request)
        # Changing the password rotates the session hash; keep this session logged in.
        login(request, request.user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Your password has been changed."))
        return redirect("core:home")
    return render(request, "core/password_change.html", {"form": form})


@login_required
@require_POST
def switch_region_view(request):
    form = RegionSwitchForm(request.POST)
    if not form.is_valid():
        raise Http404
    region = services.choose_region(request.user, form.cleaned_data["code"])
    request.session[CURRENT_REGION] = region.code
    record(
        AuditAction.REGION_SWITCHED,
        actor=request.user,
        request=request,
        target=region,
        region_code=region.code,
    )
    next_url = _safe_next(request, request.POST.get("next"))
    return redirect(next_url or "core:home")


@login_required
def home_view(request):
    if request.user.is_resident:
        return render(request, "core/resident_home.html")
    return region_detail_view(request, request.region_code)


@login_required
def region_detail_view(request, code):
    if request.user.is_resident:
        raise Http404
    region = Region.objects.get_visible(request.user, code=code)
    children = (
        Region.objects.visible_to(request.user)
        .filter(parent=region)
        .annotate(child_count=Count("children"))
        .order_by("code")
    )
    staff = (
        User.objects.visible_to(request.user, region.code)
        .filter(scopes__region=region)
        .order_by("role", "username")
    )
    # Ancestors above the user's scope are named but not linked: their pages would answer 404.
    breadcrumb = [(step, code_within(step.code, request.user.scope_codes)) for step in region.path]
    return render(
        request,
        "core/region_detail.html",
        {"region": region, "children": children, "staff": staff, "breadcrumb": breadcrumb},
    )


@login_required
def audit_list_view(request):
    if request.user.role not in (Role.AUDITOR, Role.DISTRICT_ADMIN):
        raise Http404
    entries = list(AuditLog.objects.visible_to(request.user, request.region_code)[:AUDIT_PAGE_ROWS])
    labels = dict(AuditAction.choices)
    region_names = dict(
        Region.objects.filter(code__in={e.region_code for e in entries}).values_list("code", "name")
    )
    for entry in entries:
        entry.action_label = labels.get(entry.action, entry.action)
        entry.region_name = region_names.get(entry.region_code, "")
    return render(request, "core/audit_list.html", {"entries": entries, "limit": AUDIT_PAGE_ROWS})
