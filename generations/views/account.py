"""The member's account: password reset (Django's views, two details changed)."""

from axes.utils import reset as reset_login_failures
from django.conf import settings
from django.contrib.auth import views as auth_views


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
