"""Joining by invitation (open to visitors: the link is the permission), and a member's own
settings: profile, password, signed-in sessions."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from .. import languages, members, oidc
from ..member_forms import JoinForm, ProfileForm
from ..models import Invitation, MemberSession

LOCAL_BACKEND = "generations.accounts.LocalPasswordBackend"


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
    """Every session of this member ends, this one included."""
    members.end_sessions(request.user)
    logout(request)
    messages.success(request, _("You are signed out everywhere."))
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
