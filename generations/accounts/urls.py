"""Signing in and out, passwords, the staff's second factor, joining by invitation and
one's own settings and sessions."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import path

from generations import converters  # noqa: F401  (registers <token:> and <secret:>)
from generations.accounts import oidc, views
from generations.accounts.views import local_passwords_only

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Sign-in with the team's identity provider (404 unless it is configured)
    path(
        "login/provider/",
        login_not_required(oidc.SignInView.as_view()),
        name="oidc_authentication_init",
    ),
    path(
        "login/provider/callback/",
        login_not_required(oidc.CallbackView.as_view()),
        name="oidc_authentication_callback",
    ),
    # Passwords: change (signed in), reset by a mailed link (open to visitors); 404 when
    # local passwords are off
    path(
        "password/",
        local_passwords_only(views.PasswordChangeView.as_view()),
        name="password_change",
    ),
    path(
        "password/changed/",
        local_passwords_only(auth_views.PasswordChangeDoneView.as_view()),
        name="password_change_done",
    ),
    path(
        "password/reset/",
        local_passwords_only(views.PasswordResetView.as_view()),
        name="password_reset",
    ),
    path(
        "password/reset/sent/",
        local_passwords_only(auth_views.PasswordResetDoneView.as_view()),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<secret:token>/",
        local_passwords_only(views.PasswordResetConfirmView.as_view()),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/complete/",
        local_passwords_only(auth_views.PasswordResetCompleteView.as_view()),
        name="password_reset_complete",
    ),
    # The second factor staff confirm before the admin (404 for members)
    path("two-factor/setup/", views.two_factor_setup, name="two_factor_setup"),
    path(
        "two-factor/recovery-codes/",
        views.two_factor_recovery_codes,
        name="two_factor_recovery_codes",
    ),
    path("two-factor/verify/", views.two_factor_verify, name="two_factor_verify"),
    # Members: joining by invitation (open to visitors), one's own settings and sessions
    path("join/<token:token>/", views.invitation, name="invitation"),
    path("account/", views.account_settings, name="account_settings"),
    path(
        "account/sessions/sign-out/",
        views.sign_out_everywhere,
        name="account_sign_out_everywhere",
    ),
    path(
        "account/sessions/<int:session_id>/sign-out/",
        views.sign_out_session,
        name="account_sign_out_session",
    ),
]
