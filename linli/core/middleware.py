"""Request gates for logged-in users: idle timeout, first-login password change, and the current region."""

from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.middleware.locale import LocaleMiddleware
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from . import clock
from .audit import AuditAction, record
from .scope import code_within

LAST_ACTIVITY = "linli_last_activity"
CURRENT_REGION = "linli_region"


def idle_limit_minutes(user) -> int:
    return settings.LINLI_RESIDENT_IDLE_MINUTES if user.is_resident else settings.LINLI_STAFF_IDLE_MINUTES


class IdleTimeoutMiddleware:
    """End a session after a period without requests (30 minutes for staff by default)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and SESSION_KEY in request.session:
            last = request.session.get(LAST_ACTIVITY)
            if last is not None:
                idle = (clock.now() - datetime.fromisoformat(last)).total_seconds() / 60
                if idle > idle_limit_minutes(user):
                    record(AuditAction.IDLE_TIMEOUT, actor=user, request=request, idle_minutes=int(idle))
                    logout(request)
                    if request.path.startswith("/api/"):
                        # Now anonymous: the API answers with its own "not authenticated" response.
                        return self.get_response(request)
                    messages.info(request, _("You were logged out after a period of inactivity."))
                    return redirect(f"{reverse('core:login')}?{urlencode({'next': request.get_full_path()})}")
        response = self.get_response(request)
        # Stamp after the view, so that the request that logs in starts the clock too (a session that is never
        # used after logging in must still expire). Token-authenticated API calls have no session to stamp.
        if request.user.is_authenticated and SESSION_KEY in request.session:
            request.session[LAST_ACTIVITY] = clock.now().isoformat()
        return response


class AccountGateMiddleware:
    """Until a first-login password is changed, an account may only change it (or log out)."""

    allowed = ("core:password_change", "core:logout", "set_language")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and user.must_change_password:
            allowed_paths = {reverse(name) for name in self.allowed}
            if request.path not in allowed_paths and not request.path.startswith(settings.STATIC_URL):
                if request.path.startswith("/api/"):
                    from django.http import JsonResponse

                    return JsonResponse(
                        {"detail": _("Change your password in the console before using the API.")}, status=403
                    )
                return redirect("core:password_change")
        return self.get_response(request)


class CurrentRegionMiddleware:
    """``request.region_code``: the region the user is working in, always inside their scope."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.region_code = None
        user = request.user
        if user.is_authenticated and not user.is_resident and user.scope_codes:
            chosen = request.session.get(CURRENT_REGION)
            if not chosen or not code_within(chosen, user.scope_codes):
                chosen = user.scope_codes[0]
            request.region_code = chosen
        return self.get_response(request)


class ChineseFirstLocaleMiddleware(LocaleMiddleware):
    """Chinese unless the user chose English with the language switch (a cookie), whatever the browser says.

    Django's own middleware follows Accept-Language, which would greet an officer whose browser happens to be
    set to English in English; the console is Chinese first and English on request.
    """

    def process_request(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        supported = {code for code, _name in settings.LANGUAGES}
        language = chosen if chosen in supported else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
