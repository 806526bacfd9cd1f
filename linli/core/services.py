"""Account actions: logging in with lockout and two-factor, creating staff, changing roles and scopes.

Views, the API, the admin, the CLI and the demo generator call these; each writes its own audit rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pyotp
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import clock
from .audit import AuditAction, record
from .models import Region, Role, User, UserScope
from .regions import validate_region_code
from .scope import code_within

GENERIC_LOGIN_ERROR = gettext_lazy(
    "Login failed: wrong username or password, or the account is locked for a while. Try again later."
)


@dataclass
class LoginResult:
    user: User | None
    needs_totp: bool = False
    needs_totp_enrolment: bool = False


def login_error_message() -> str:
    # One message for every failure, so that nobody learns whether a name exists or is locked.
    return str(GENERIC_LOGIN_ERROR)


def is_locked(user: User) -> bool:
    return user.locked_until is not None and user.locked_until > clock.now()


def check_password_login(username: str, password: str, request=None) -> LoginResult:
    """Check a username and password, counting failures and locking the account after too many."""
    user = User.objects.filter(username__iexact=username).first()
    if user is not None and is_locked(user):
        record(AuditAction.LOGIN_FAILED, actor=user, request=request, reason="locked")
        return LoginResult(None)
    authenticated = authenticate(request, username=user.username if user else username, password=password)
    if authenticated is None:
        if user is None:
            record(AuditAction.LOGIN_FAILED, actor_name=username[:150], request=request, reason="unknown user")
        else:
            _count_failure(user, request)
        return LoginResult(None)
    user = authenticated
    if user.failed_logins or user.locked_until:
        User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
        user.failed_logins, user.locked_until = 0, None
    if user.totp_confirmed:
        return LoginResult(user, needs_totp=True)
    if totp_required(user):
        return LoginResult(user, needs_totp_enrolment=True)
    return LoginResult(user)


def _count_failure(user: User, request) -> None:
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        user.failed_logins += 1
        locked = user.failed_logins >= settings.LINLI_LOCKOUT_FAILURES
        if locked:
            user.locked_until = clock.now() + timedelta(minutes=settings.LINLI_LOCKOUT_MINUTES)
            user.failed_logins = 0
        user.save(update_fields=["failed_logins", "locked_until"])
    record(AuditAction.LOGIN_FAILED, actor=user, request=request, reason="wrong password")
    if locked:
        record(AuditAction.LOCKED_OUT, actor=user, request=request, minutes=settings.LINLI_LOCKOUT_MINUTES)


def totp_required(user: User) -> bool:
    return user.role in settings.LINLI_TOTP_REQUIRED_ROLES


def totp_uri(user: User) -> str:
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.username, issuer_name=settings.LINLI_TOTP_ISSUER)


def start_totp_enrolment(user: User) -> str:
    """Give the user a fresh secret to scan; it counts only once a code from it is confirmed."""
    if not user.totp_secret or not user.totp_confirmed:
        user.totp_secret = pyotp.random_base32()
        user.save(update_fields=["totp_secret"])
    return user.totp_secret


def verify_totp(user: User, code: str, request=None, *, enrol: bool = False) -> bool:
    """Check a six-digit code (one step of clock drift allowed); on enrolment, confirm the secret."""
    code = (code or "").strip().replace(" ", "")
    ok = bool(user.totp_secret) and code.isdigit() and pyotp.TOTP(user.totp_secret).verify(
        code, for_time=clock.now(), valid_window=1
    )
    if not ok:
        record(AuditAction.TOTP_FAILED, actor=user, request=request)
        _count_failure(user, request)
        return False
    if enrol and not user.totp_confirmed:
        user.totp_confirmed = True
        user.save(update_fields=["totp_confirmed"])
        record(AuditAction.TOTP_ENROLLED, actor=user, request=request)
    return True


def record_login(user: User, request=None) -> None:
    record(AuditAction.LOGIN, actor=user, request=request)


def change_password(user: User, new_password: str, request=None) -> None:
    """Set a new password that passes the policy; it is no longer one to change."""
    validate_password(new_password, user)
    user.set_password(new_password)
    user.must_change_password = False
    user.save(update_fields=["password", "must_change_password"])
    record(AuditAction.PASSWORD_CHANGED, actor=user, request=request, target=user)


def _check_can_manage(by: User | None, scope_codes: list[str]) -> None:
    """Only administrators and street officers manage accounts, and only inside their own scope."""
    if by is None:  # the command line and the demo generator act as the operator
        return
    if by.role not in (Role.DISTRICT_ADMIN, Role.STREET_OFFICER):
        raise PermissionDenied(_("Only district administrators and street officers manage accounts."))
    for code in scope_codes:
        if not code_within(code, by.scope_codes):
            raise PermissionDenied(_("Region %(code)s is outside your scope.") % {"code": code})


@transaction.atomic
def create_user(
    username: str,
    password: str,
    role: str,
    scope_codes: list[str] = (),
    *,
    by: User | None = None,
    display_name: str = "",
    must_change_password: bool | None = None,
    request=None,
    **fields,
) -> User:
    """Create an account. One created by an administrator must change its password at first login."""
    role = Role(role)
    scope_codes = list(scope_codes)
    _check_can_manage(by, scope_codes)
    if role != Role.RESIDENT and not scope_codes:
        raise ValidationError({"scopes": _("A staff account needs at least one region in its scope.")})
    if role == Role.DISTRICT_ADMIN and by is not None and by.role != Role.DISTRICT_ADMIN:
        raise PermissionDenied(_("Only a district administrator can create another."))
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": _("The username “%(name)s” is taken.") % {"name": username}})
    user = User(
        username=username,
        role=role,
        display_name=display_name,
        must_change_password=(by is not None) if must_change_password is None else must_change_password,
        is_staff=role == Role.DISTRICT_ADMIN,
        **fields,
    )
    validate_password(password, user)
    user.set_password(password)
    user.save()
    _replace_scopes(user, scope_codes)
    record(AuditAction.USER_CREATED, actor=by, request=request, target=user, role=role, scopes=scope_codes,
           region_code=scope_codes[0] if scope_codes else None)
    return user


def _replace_scopes(user: User, scope_codes: list[str]) -> None:
    regions = Region.objects.in_bulk(scope_codes)
    missing = [code for code in scope_codes if code not in regions]
    if missing:
        raise ValidationError({"scopes": _("Unknown region code(s): %(codes)s") % {"codes": ", ".join(missing)}})
    user.scopes.all().delete()
    UserScope.objects.bulk_create(UserScope(user=user, region_id=code) for code in scope_codes)
    user.__dict__.pop("_scope_codes", None)


@transaction.atomic
def change_role(user: User, role: str, *, by: User | None, request=None) -> User:
    role = Role(role)
    _check_can_manage(by, user.scope_codes)
    if role == Role.DISTRICT_ADMIN and by is not None and by.role != Role.DISTRICT_ADMIN:
        raise PermissionDenied(_("Only a district administrator can make another."))
    old = user.role
    user.role = role
    user.is_staff = role == Role.DISTRICT_ADMIN
    user.save(update_fields=["role", "is_staff"])
    record(AuditAction.ROLE_CHANGED, actor=by, request=request, target=user, old=old, new=role,
           region_code=user.scope_codes[0] if user.scope_codes else None)
    return user


@transaction.atomic
def set_scopes(user: User, scope_codes: list[str], *, by: User | None, request=None) -> User:
    old = list(user.scope_codes)
    _check_can_manage(by, old + list(scope_codes))
    if user.role != Role.RESIDENT and not scope_codes:
        raise ValidationError({"scopes": _("A staff account needs at least one region in its scope.")})
    _replace_scopes(user, list(scope_codes))
    record(AuditAction.SCOPE_CHANGED, actor=by, request=request, target=user, old=old, new=list(scope_codes),
           region_code=(old or list(scope_codes) or [None])[0])
    return user


def switchable_regions(user: User):
    """The regions a user can make current: every region in their scope."""
    return Region.objects.visible_to(user).only("code", "name", "level", "parent_id")


def choose_region(user: User, code: str) -> Region:
    """The region the user switches to; 404 (as Region.DoesNotExist) when outside their scope."""
    return Region.objects.get_visible(user, code=code)


@transaction.atomic
def create_region(code: str, name: str, *, boundary: dict | None = None, centre: tuple | None = None) -> Region:
    """Add a region under its parent (found from the code), validated."""
    code = (code or "").strip()
    validate_region_code(code, None, code[:-3] if len(code) > 6 else None)
    if Region.objects.filter(code=code).exists():
        raise ValidationError({"code": _("Region code “%(code)s” already exists.") % {"code": code}})
    parent = None
    if len(code) > 6:
        parent = Region.objects.filter(code=code[:-3]).first()
        if parent is None:
            raise ValidationError({"code": _("Parent region “%(parent)s” of “%(code)s” does not exist.") % {
                "parent": code[:-3], "code": code}})
    region = Region(code=code, name=name, parent=parent, boundary=boundary,
                    centre_lon=centre[0] if centre else None, centre_lat=centre[1] if centre else None)
    region.full_clean()
    region.save(force_insert=True)
    return region
