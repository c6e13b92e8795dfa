"""Accounts and sign-in security: the login throttle (django-axes) and its lockout page,
and the second factor staff need for the admin (django-otp: an authenticator app, TOTP,
plus single-use recovery codes).

The throttle's policy and numbers live in settings (LOGIN_FAILURE_LIMIT,
LOGIN_COOLOFF_MINUTES); failures are rows in the database, so every process counts them.
Before any of that, password sign-ins are counted per client network whatever the username
(LOGIN_ATTEMPTS_PER_MINUTE): one upsert, before a password is hashed or axes writes a row, so
a guesser cycling through usernames cannot make every sign-in slow or the table grow.
Members never meet the second factor; staff set one up the first time they open the admin
and confirm it once per session after that.
"""

import math
import re
from urllib.parse import urlencode

import django_otp
import segno
from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from generations import ratelimit

RECOVERY_CODE_COUNT = 10
AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
TOTP_CODE = re.compile(r"\d{6}")
MISMATCH = _("That code did not match. Check that your phone's clock is right, and try again.")

# --- The sign-in throttle -------------------------------------------------------------------


class LoginThrottleBackend(AxesStandaloneBackend):
    """Refuses every sign-in for an account from an address that is locked out.

    Only a web request has an address to throttle: an authenticate() call without one (a
    shell, a management command, the test client's login()) has nothing to count against
    and is let through to the next backend. Both login pages pass their request."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def not_a_password_sign_in(request, credentials=None):
    """AXES_WHITELIST_CALLABLE: the throttle counts password sign-ins only. A sign-in with
    the identity provider carries no username (the provider throttles its own sign-ins);
    counting it would lock out everyone behind one address under the name None."""
    return (credentials or {}).get("username") is None


class LocalPasswordBackend(ModelBackend):
    """Django's username-and-password backend, which signs nobody in while local passwords
    are off (BANANA_LOCAL_PASSWORDS); sessions and permissions work as ever."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not settings.BANANA_LOCAL_PASSWORDS:
            return None
        return super().authenticate(request, username, password, **kwargs)


def lockout_response(request, original_response=None, credentials=None):
    """The page shown instead of the login form while an account is locked out here.

    Every attempt during the lock starts the cool-off again, so "wait N minutes" is true
    from the moment the page is shown."""
    cool_off = get_cool_off(request)
    minutes = math.ceil(cool_off.total_seconds() / 60) if cool_off else None
    response = render(
        request,
        "registration/locked_out.html",
        {"minutes": minutes, "username": (credentials or {}).get("username", "")},
        status=429,
    )
    if cool_off:
        response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response


SIGN_IN_WINDOW = 60


def sign_ins_paused(request):
    """Count one password sign-in from the client's network (IPv6: its /64), whatever the
    username. While the network is over LOGIN_ATTEMPTS_PER_MINUTE this minute: the page
    saying how long to wait (429); else None. Call it before the password is checked."""
    limit = settings.LOGIN_ATTEMPTS_PER_MINUTE
    if not limit:
        return None
    network = ratelimit.network_of(ratelimit.client_address(request))
    if ratelimit.hit(f"sign-in:{network}", SIGN_IN_WINDOW) <= limit:
        return None
    seconds = ratelimit.seconds_left(SIGN_IN_WINDOW)
    response = render(
        request, "registration/sign_ins_paused.html", {"seconds": seconds}, status=429
    )
    response["Retry-After"] = str(seconds)
    return response


# --- The second factor ----------------------------------------------------------------------


def is_verified(user):
    """Whether this session was confirmed with the user's second factor (OTPMiddleware sets
    it up; without the middleware nobody is verified)."""
    check = getattr(user, "is_verified", None)
    return bool(check and check())


def needs_second_factor(user):
    """Staff this session has not verified yet: the admin sends them to setup or verify."""
    return user.is_active and user.is_staff and not is_verified(user)


def has_authenticator(user):
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def safe_next(request):
    """The page to go on to (?next=), if it is on this site; else the admin's index."""
    url = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME)
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return reverse("admin:index")


def with_next(url_name, next_url):
    return f"{reverse(url_name)}?{urlencode({REDIRECT_FIELD_NAME: next_url}, safe='/')}"


def second_factor_redirect(request, next_url):
    """To setup for staff with no authenticator yet, else to verify."""
    step = "two_factor_verify" if has_authenticator(request.user) else "two_factor_setup"
    return redirect(with_next(step, next_url))


def pending_authenticator(user):
    """The authenticator being set up: the same secret until it is confirmed, so a reload
    does not invalidate what the app has already scanned."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)


def qr_svg(text):
    """`text` as an inline SVG QR code (no image library needed)."""
    code = segno.make(text, error="m")
    return mark_safe(  # noqa: S308 (segno's own markup; the text is only in its paths)
        code.svg_inline(scale=4, border=2, omitsize=True, svgclass="qr", light="#fff")
    )


def secret_for_typing(device):
    """The base32 secret in groups of four, for apps that cannot scan."""
    secret = device.config_url.split("secret=", 1)[1].split("&", 1)[0]
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def confirm_authenticator(device, code):
    """Confirm a new authenticator with a code it shows.
    Returns (device, None) on success, else (None, the reason to show)."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        if wait := throttled([device]):
            return None, wait
        if not device.verify_token(normalise_code(code)):
            return None, MISMATCH
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    return device, None


def new_recovery_codes(user):
    """Replace the user's recovery codes with RECOVERY_CODE_COUNT new single-use ones."""
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in codes)
    return codes


def recovery_codes_left(user):
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def normalise_code(code):
    """People type codes with spaces and dashes, and recovery codes in capitals."""
    return re.sub(r"[\s-]", "", code or "").lower()


def verify_second_factor(user, code):
    """Check a code from the authenticator (6 digits) or a recovery code (used up by this).
    Returns (device, None) on success, else (None, the reason to show)."""
    code = normalise_code(code)
    model = TOTPDevice if TOTP_CODE.fullmatch(code) else StaticDevice
    devices = list(model.objects.devices_for_user(user, confirmed=True))
    if wait := throttled(devices):
        return None, wait
    for device in devices:
        # One transaction per device, its row locked: a recovery code works only once
        # however many requests race for it.
        verified = django_otp.verify_token(user, device.persistent_id, code)
        if verified is not None:
            return verified, None
    return None, MISMATCH


def throttled(devices):
    """Each wrong code doubles the wait before a device takes the next one. While every
    device that could take this code is waiting: how long, to show; else None."""
    waits = []
    for device in devices:
        allowed, details = device.verify_is_allowed()
        if allowed:
            return None
        waits.append((details or {}).get("locked_until"))
    if not waits or None in waits:
        return None
    seconds = max(1, math.ceil((min(waits) - timezone.now()).total_seconds()))
    return ngettext(
        "Too many wrong codes: wait %(seconds)d second, then try again.",
        "Too many wrong codes: wait %(seconds)d seconds, then try again.",
        seconds,
    ) % {"seconds": seconds}


class SecondFactorForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "autocapitalize": "none",
                "spellcheck": "false",
                "class": "code",
                "autofocus": True,
            }
        ),
    )


class StaffAdminSite(admin.AdminSite):
    """The admin: staff only, and only in a session confirmed with their second factor.

    Signed-in staff who have not confirmed it yet are sent from the admin's login page to
    set an authenticator up (the first time) or to enter a code."""

    def has_permission(self, request):
        return super().has_permission(request) and is_verified(request.user)

    @method_decorator(never_cache)
    @login_not_required
    def login(self, request, extra_context=None):
        if needs_second_factor(request.user):
            return second_factor_redirect(request, safe_next(request))
        if not settings.BANANA_LOCAL_PASSWORDS and not request.user.is_authenticated:
            # No password form here: staff sign in with the identity provider, then come back.
            return redirect(with_next(settings.LOGIN_URL, safe_next(request)))
        if request.method == "POST" and (paused := sign_ins_paused(request)):
            return paused
        return super().login(request, extra_context)
