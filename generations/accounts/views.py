"""The member's account: signing in (passwords and/or the identity provider), password
change and reset (Django's views, a few details changed), and the second factor staff
confirm before the admin (generations.accounts.security)."""

from functools import wraps

from axes.utils import reset as reset_login_failures
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import login as otp_login

from generations import languages
from generations.accounts import members, oidc, passwords, security
from generations.accounts.forms import JoinForm, ProfileForm
from generations.models import Invitation, MemberSession


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
        if paused := security.sign_ins_paused(request):
            return paused
        return super().post(request, *args, **kwargs)


def _keys_revoked(request, count):
    if count:
        messages.success(
            request,
            ngettext("Your API key is revoked.", "Your %(count)d API keys are revoked.", count)
            % {"count": count},
        )


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's, offering to revoke the member's API keys too; the member stays signed in
    under a new session key, and the record of their sessions follows it."""

    form_class = passwords.ChangePasswordForm

    def form_valid(self, form):
        old_key = self.request.session.session_key
        response = super().form_valid(form)
        members.session_rotated(self.request, old_key)
        _keys_revoked(self.request, form.revoke_keys_if_asked(form.user))
        return response


class PasswordResetView(auth_views.PasswordResetView):
    """Django's page, but the mail is sent by a task and each request counts against the
    client's and the address's limits (generations.accounts.passwords). The link is built
    on PUBLIC_BASE_URL when it is set: the Host header a visitor sends never decides where
    a reset link points."""

    def form_valid(self, form):
        address = form.cleaned_data["email"]
        if paused := passwords.reset_paused(self.request, address):
            return paused
        passwords.request_reset(address, passwords.base_url(self.request))
        return redirect(self.get_success_url())


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's, offering to revoke the member's API keys too; a new password set through
    the mailed link also lifts the account's sign-in lockouts, since the password they
    guarded no longer exists."""

    form_class = passwords.NewPasswordForm

    def form_valid(self, form):
        response = super().form_valid(form)
        reset_login_failures(username=form.user.get_username())
        _keys_revoked(self.request, form.revoke_keys_if_asked(form.user))
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
    next_url = security.safe_next(request)
    if security.has_authenticator(request.user):
        if security.is_verified(request.user):
            return redirect(next_url)
        return redirect(security.with_next("two_factor_verify", next_url))

    device = security.pending_authenticator(request.user)
    form = security.SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        confirmed, reason = security.confirm_authenticator(device, form.cleaned_data["code"])
        if confirmed:
            otp_login(request, confirmed)
            codes = security.new_recovery_codes(request.user)
            request.session[RECOVERY_CODES_SESSION_KEY] = codes
            return redirect(security.with_next("two_factor_recovery_codes", next_url))
        form.add_error("code", reason)
    return render(
        request,
        "registration/two_factor_setup.html",
        {
            "form": form,
            "next": next_url,
            "config_url": device.config_url,
            "qr": security.qr_svg(device.config_url),
            "secret": security.secret_for_typing(device),
        },
    )


@never_cache
@require_GET
def two_factor_recovery_codes(request):
    """The new recovery codes, shown once: they are only in the session until this page."""
    _staff_only(request)
    next_url = security.safe_next(request)
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
    next_url = security.safe_next(request)
    if not security.has_authenticator(request.user):
        return redirect(security.with_next("two_factor_setup", next_url))
    if security.is_verified(request.user):
        return redirect(next_url)

    form = security.SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device, reason = security.verify_second_factor(request.user, form.cleaned_data["code"])
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
            "recovery_codes_left": security.recovery_codes_left(request.user),
        },
    )


# --- Joining, one's own settings and sessions ----------------------------------------------


LOCAL_BACKEND = "generations.accounts.security.LocalPasswordBackend"


def _provider_context():
    return {
        "provider": oidc.enabled(),
        "provider_name": oidc.provider_name(),
        "local_passwords": settings.BANANA_LOCAL_PASSWORDS,
    }


def _refused(request, invitation, exc=None):
    """The page for a link that cannot be used: unknown (404), or used, expired, withdrawn
    (410 Gone: it worked once)."""
    exc = exc or members.InvitationRefused(invitation)
    status = 404 if invitation is None else 410
    return render(
        request,
        "members/invitation_refused.html",
        {"reason": str(exc), "invitation": invitation},
        status=status,
    )


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def invitation(request, token):
    invitation = members.find_invitation(token)
    if invitation is None or invitation.state() != Invitation.State.PENDING:
        return _refused(request, invitation)
    context = {"invitation": invitation, **_provider_context()}
    if request.user.is_authenticated:
        return render(request, "members/invitation.html", context)
    form = None
    if settings.BANANA_LOCAL_PASSWORDS:
        form = JoinForm(request.POST or None, invitation=invitation)
        if request.method == "POST" and form.is_valid():
            try:
                user = members.accept_with_password(
                    invitation, form.cleaned_data["username"], form.cleaned_data["password1"]
                )
            except members.InvitationRefused as exc:
                return _refused(request, exc.invitation, exc)
            login(request, user, backend=LOCAL_BACKEND)
            messages.success(request, _("Welcome to Banana Studio, %(name)s!") % {"name": user})
            return redirect("home")
    elif request.method == "POST":
        return render(request, "members/invitation.html", context, status=403)
    return render(request, "members/invitation.html", {**context, "form": form})


@never_cache
@require_http_methods(["GET", "POST"])
def account_settings(request):
    user = request.user
    form = ProfileForm(
        request.POST or None,
        instance=members.profile_for(user),
        **languages.browser_choices(request),
    )
    if request.method == "POST" and form.is_valid():
        profile = form.save()
        languages.remember_preferences(request, profile.language, profile.time_zone)
        if profile.language:
            translation.activate(profile.language)
        messages.success(request, _("Your settings are saved."))
        response = redirect("account_settings")
        if not profile.language:
            # Back to the browser's own language, not the last one the switcher chose.
            response.delete_cookie(settings.LANGUAGE_COOKIE_NAME)
        return response
    context = {
        "form": form,
        "sign_out_form": passwords.SignOutEverywhereForm(user),
        "role": members.role_of(user).label,
        "sessions": members.live_sessions(user),
        "current_session": request.session.session_key,
        "identities": user.provider_identities.all(),
        "can_change_password": settings.BANANA_LOCAL_PASSWORDS and user.has_usable_password(),
        **_provider_context(),
    }
    return render(request, "members/settings.html", context)


@require_POST
def sign_out_everywhere(request):
    """Every session of this member ends, this one included, and their API keys are
    revoked too when the box (ticked by default) stayed ticked."""
    form = passwords.SignOutEverywhereForm(request.user, request.POST)
    revoked = form.revoke_keys_if_asked(request.user) if form.is_valid() else 0
    members.end_sessions(request.user)
    logout(request)
    messages.success(request, _("You are signed out everywhere."))
    _keys_revoked(request, revoked)
    return redirect("login")


@require_POST
def sign_out_session(request, session_id):
    """One session of this member ends (another browser, or this one)."""
    this_one = MemberSession.objects.filter(
        pk=session_id, user=request.user, session_key=request.session.session_key
    ).exists()
    if members.end_session(request.user, session_id):
        messages.success(request, _("That session is signed out."))
    if this_one:
        logout(request)
        return redirect("login")
    return redirect("account_settings")
