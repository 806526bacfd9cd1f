"""Account actions: logging in with lockout and two-factor, creating staff, changing roles and scopes.

Views, the API, the admin, the CLI and the demo generator call these; each writes its own audit rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

import pyotp
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import make_password
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
        make_password(password)  # spend the hashing time anyway, so a locked account answers no faster
        record(AuditAction.LOGIN_FAILED, actor=user, request=request, reason="locked")
        return LoginResult(None)
    authenticated = authenticate(request, username=user.username if user else username, password=password)
    if authenticated is None:
        if user is None:
            record(
                AuditAction.LOGIN_FAILED, actor_name=username[:150], request=request, reason="unknown user"
            )
        else:
            _count_failure(user, request)
        return LoginResult(None)
    user = authenticated
    if user.totp_confirmed:
        # The failure count is cleared only once the second factor passes too: otherwise re-entering the
        # password between guesses would reset it and let the six-digit code be guessed without a lockout.
        return LoginResult(user, needs_totp=True)
    if totp_required(user):
        return LoginResult(user, needs_totp_enrolment=True)
    _clear_failures(user)
    return LoginResult(user)


def _clear_failures(user: User) -> None:
    if user.failed_logins or user.locked_until:
        User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
        user.failed_logins, user.locked_until = 0, None


def _count_failure(user: User, request, reason: str = "wrong password") -> None:
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        user.failed_logins += 1
        locked = user.failed_logins >= settings.LINLI_LOCKOUT_FAILURES
        if locked:
            user.locked_until = clock.now() + timedelta(minutes=settings.LINLI_LOCKOUT_MINUTES)
            user.failed_logins = 0
        user.save(update_fields=["failed_logins", "locked_until"])
    record(AuditAction.LOGIN_FAILED, actor=user, request=request, reason=reason)
    if locked:
        record(AuditAction.LOCKED_OUT, actor=user, request=request, minutes=settings.LINLI_LOCKOUT_MINUTES)


def totp_required(user: User) -> bool:
    return user.role in settings.LINLI_TOTP_REQUIRED_ROLES


def totp_uri(user: User) -> str:
    totp = pyotp.TOTP(user.totp_secret)
    return totp.provisioning_uri(name=user.username, issuer_name=settings.LINLI_TOTP_ISSUER)


def start_totp_enrolment(user: User) -> str:
    """The secret to scan: a pending one is kept (the page is shown again on a wrong code), else a fresh one.

    It counts only once a code from it is confirmed. A confirmed secret is never shown again: someone who
    knows only the password must not get the second factor.
    """
    if user.totp_confirmed:
        raise PermissionDenied(_("Two-factor authentication is already set up for this account."))
    if not user.totp_secret:
        user.totp_secret = pyotp.random_base32()
        user.save(update_fields=["totp_secret"])
    return user.totp_secret


def verify_totp(user: User, code: str, request=None, *, enrol: bool = False) -> bool:
    """Check a six-digit code (one step of clock drift allowed); on enrolment, confirm the secret.

    A wrong code counts as a failed login; a locked account is refused whatever the code.
    """
    user.refresh_from_db(fields=["totp_secret", "totp_confirmed", "failed_logins", "locked_until"])
    if is_locked(user):
        record(AuditAction.LOGIN_FAILED, actor=user, request=request, reason="locked")
        return False
    code = (code or "").strip().replace(" ", "")
    usable = bool(user.totp_secret) and (enrol or user.totp_confirmed)
    ok = (
        usable
        and code.isdigit()
        and pyotp.TOTP(user.totp_secret).verify(code, for_time=clock.now(), valid_window=1)
    )
    if not ok:
        record(AuditAction.TOTP_FAILED, actor=user, request=request)
        _count_failure(user, request, reason="wrong two-factor code")
        return False
    if enrol and not user.totp_confirmed:
        user.totp_confirmed = True
        user.save(update_fields=["totp_confirmed"])
        record(AuditAction.TOTP_ENROLLED, actor=user, request=request)
    _clear_failures(user)
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
    scope_codes: Sequence[str] = (),
    *,
    by: User | None = None,
    display_name: str = "",
    must_change_password: bool | None = None,
    request=None,
    **fields,
) -> User:
    """Create an account. One created by an administrator must change its password at first login."""
    role = Role(role)
    codes = list(scope_codes)
    _check_can_manage(by, codes)
    _check_scopes_fit_role(role, codes)
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
    _replace_scopes(user, codes)
    record(
        AuditAction.USER_CREATED,
        actor=by,
        request=request,
        target=user,
        role=role,
        scopes=codes,
        region_code=codes[0] if codes else None,
    )
    return user


def _check_scopes_fit_role(role: str, scope_codes: list[str]) -> None:
    """Staff see the regions of their scopes; residents see only their own records and have no scope."""
    if role != Role.RESIDENT and not scope_codes:
        raise ValidationError({"scopes": _("A staff account needs at least one region in its scope.")})
    if role == Role.RESIDENT and scope_codes:
        raise ValidationError({"scopes": _("A resident account has no region scope; remove the regions.")})


def _replace_scopes(user: User, scope_codes: list[str]) -> None:
    regions = Region.objects.in_bulk(scope_codes)
    missing = [code for code in scope_codes if code not in regions]
    if missing:
        raise ValidationError(
            {"scopes": _("Unknown region code(s): %(codes)s") % {"codes": ", ".join(missing)}}
        )
    user.scopes.all().delete()
    UserScope.objects.bulk_create(UserScope(user=user, region_id=code) for code in scope_codes)
    user.__dict__.pop("_scope_codes", None)


@transaction.atomic
def change_role(user: User, role: str, *, by: User | None, request=None) -> User:
    """Give an account another role; a staff role needs a scope, a resident role none."""
    new_role = Role(role)
    _check_can_manage(by, user.scope_codes)
    if by is not None:
        if by.pk == user.pk:
            raise PermissionDenied(_("You cannot change your own role; ask another administrator."))
        if Role.DISTRICT_ADMIN in (new_role, user.role) and by.role != Role.DISTRICT_ADMIN:
            raise PermissionDenied(_("Only a district administrator can make or change another."))
        if not user.scope_codes and by.role != Role.DISTRICT_ADMIN:
            # An account without a scope (a resident) lies in no officer's region.
            raise PermissionDenied(_("Only a district administrator can change the role of this account."))
    _check_scopes_fit_role(new_role, user.scope_codes)
    old = user.role
    user.role = new_role
    user.is_staff = new_role == Role.DISTRICT_ADMIN
    user.save(update_fields=["role", "is_staff"])
    record(
        AuditAction.ROLE_CHANGED,
        actor=by,
        request=request,
        target=user,
        old=old,
        new=new_role,
        region_code=user.scope_codes[0] if user.scope_codes else None,
    )
    return user


@transaction.atomic
def set_scopes(user: User, scope_codes: Sequence[str], *, by: User | None, request=None) -> User:
    """Replace the regions an account sees; both the old and the new ones must lie in the actor's scope."""
    old = list(user.scope_codes)
    new = list(scope_codes)
    _check_can_manage(by, old + new)
    if by is not None and by.pk == user.pk and by.role != Role.DISTRICT_ADMIN:
        raise PermissionDenied(_("You cannot change your own scope; ask an administrator."))
    _check_scopes_fit_role(user.role, new)
    _replace_scopes(user, new)
    record(
        AuditAction.SCOPE_CHANGED,
        actor=by,
        request=request,
        target=user,
        old=old,
        new=new,
        region_code=(old or new)[0] if (old or new) else None,
    )
    return user


def switchable_regions(user: User):
    """The regions a user can make current: every region in their scope."""
    return Region.objects.visible_to(user).only("code", "name", "level", "parent_id")


def choose_region(user: User, code: str) -> Region:
    """The region the user switches to; 404 (as Region.DoesNotExist) when outside their scope."""
    return cast(Region, Region.objects.get_visible(user, code=code))


@transaction.atomic
def create_region(
    code: str, name: str, *, boundary: dict | None = None, centre: tuple[float, float] | None = None
) -> Region:
    """Add a region under its parent (found from the code), validated."""
    code = (code or "").strip()
    level = validate_region_code(code, None, code[:-3] if len(code) > 6 else None)
    if Region.objects.filter(code=code).exists():
        raise ValidationError({"code": _("Region code “%(code)s” already exists.") % {"code": code}})
    parent = None
    if len(code) > 6:
        parent = Region.objects.filter(code=code[:-3]).first()
        if parent is None:
            raise ValidationError(
                {
                    "code": _("Parent region “%(parent)s” of “%(code)s” does not exist.")
                    % {"parent": code[:-3], "code": code}
                }
            )
    region = Region(
        code=code,
        name=name,
        level=level,
        parent=parent,
        boundary=boundary,
        centre_lon=centre[0] if centre else None,
        centre_lat=centre[1] if centre else None,
    )
    region.full_clean()
    region.save(force_insert=True)
    return region
