"""The member's account: signing in (passwords and/or the identity provider), password
change and reset (Django's views, a few details changed), and the second factor staff
confirm before the admin (generations.accounts)."""

from functools import wraps

from axes.utils import reset as reset_login_failures
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django_otp import login as otp_login

from .. import accounts, members, oidc


def local_passwords_only(view):
    """A password page: 404 when the team signs in with the identity provider only."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not settings.BANANA_LOCAL_PASSWORDS:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapped


class LoginView(auth_views.LoginView):
    """Django's, offering the identity provider's button when there is one, and only it when
    local passwords are off (a password posted then is refused unread)."""

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            local_passwords=settings.BANANA_LOCAL_PASSWORDS,
            provider=oidc.enabled(),
            provider_name=oidc.provider_name(),
            **kwargs,
        )

    def post(self, request, *args, **kwargs):
        if not settings.BANANA_LOCAL_PASSWORDS:
            response = self.get(request, *args, **kwargs)
            response.status_code = 403
            return response
        return super().post(request, *args, **kwargs)


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's; the member stays signed in under a new session key, and the record of their
    sessions follows it."""

    def form_valid(self, form):
        old_key = self.request.session.session_key
        response = super().form_valid(form)
        members.session_rotated(self.request, old_key)
        return response


class PasswordResetView(auth_views.PasswordResetView):
    """Django's, with the mailed link built on PUBLIC_BASE_URL when it is set: the Host
    header a visitor sends never decides where a reset link points."""

    @property
    def extra_email_context(self):
        hours = max(1, round(settings.PASSWORD_RESET_TIMEOUT / 3600))
        return {"base_url": settings.PUBLIC_BASE_URL, "valid_hours": hours}


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's; a new password set through the mailed link also lifts the account's sign-in
    lockouts, since the password they guarded no longer exists."""

    def form_valid(self, form):
        response = super().form_valid(form)
        reset_login_failures(username=form.user.get_username())
        return response


# --- The second factor staff need for the admin -------------------------------------------
# Members never see these pages (404); staff reach them from the admin's login page.

RECOVERY_CODES_SESSION_KEY = "two_factor_new_recovery_codes"


def _staff_only(request):
    if not request.user.is_staff:
        raise Http404


@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_setup(request):
    """Scan the QR code (or type the secret), confirm with a code, get recovery codes."""
    _staff_only(request)
    next_url = accounts.safe_next(request)
    if accounts.has_authenticator(request.user):
        if accounts.is_verified(request.user):
            return redirect(next_url)
        return redirect(accounts.with_next("two_factor_verify", next_url))

    device = accounts.pending_authenticator(request.user)
    form = accounts.SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        confirmed, reason = accounts.confirm_authenticator(device, form.cleaned_data["code"])
        if confirmed:
            otp_login(request, confirmed)
            codes = accounts.new_recovery_codes(request.user)
            request.session[RECOVERY_CODES_SESSION_KEY] = codes
            return redirect(accounts.with_next("two_factor_recovery_codes", next_url))
        form.add_error("code", reason)
    return render(
        request,
        "registration/two_factor_setup.html",
        {
            "form": form,
            "next": next_url,
            "config_url": device.config_url,
            "qr": accounts.qr_svg(device.config_url),
            "secret": accounts.secret_for_typing(device),
        },
    )


@never_cache
@require_GET
def two_factor_recovery_codes(request):
    """The new recovery codes, shown once: they are only in the session until this page."""
    _staff_only(request)
    next_url = accounts.safe_next(request)
    codes = request.session.pop(RECOVERY_CODES_SESSION_KEY, None)
    if not codes:
        return redirect(next_url)
    response = render(
        request, "registration/two_factor_recovery_codes.html", {"codes": codes, "next": next_url}
    )
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_verify(request):
    """A code from the authenticator app, or a recovery code, once per session."""
    _staff_only(request)
    next_url = accounts.safe_next(request)
    if not accounts.has_authenticator(request.user):
        return redirect(accounts.with_next("two_factor_setup", next_url))
    if accounts.is_verified(request.user):
        return redirect(next_url)

    form = accounts.SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device, reason = accounts.verify_second_factor(request.user, form.cleaned_data["code"])
        if device:
            otp_login(request, device)
            return redirect(next_url)
        form.add_error("code", reason)
    return render(
        request,
        "registration/two_factor_verify.html",
        {
            "form": form,
            "next": next_url,
            "recovery_codes_left": accounts.recovery_codes_left(request.user),
        },
    )
