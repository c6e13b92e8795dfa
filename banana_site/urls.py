from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path

from generations import oidc
from generations.views import account
from generations.views.account import local_passwords_only

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", account.LoginView.as_view(), name="login"),
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
        local_passwords_only(account.PasswordChangeView.as_view()),
        name="password_change",
    ),
    path(
        "password/changed/",
        local_passwords_only(auth_views.PasswordChangeDoneView.as_view()),
        name="password_change_done",
    ),
    path(
        "password/reset/",
        local_passwords_only(account.PasswordResetView.as_view()),
        name="password_reset",
    ),
    path(
        "password/reset/sent/",
        local_passwords_only(auth_views.PasswordResetDoneView.as_view()),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        local_passwords_only(account.PasswordResetConfirmView.as_view()),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/complete/",
        local_passwords_only(auth_views.PasswordResetCompleteView.as_view()),
        name="password_reset_complete",
    ),
    # The second factor staff confirm before the admin (404 for members)
    path("two-factor/setup/", account.two_factor_setup, name="two_factor_setup"),
    path(
        "two-factor/recovery-codes/",
        account.two_factor_recovery_codes,
        name="two_factor_recovery_codes",
    ),
    path("two-factor/verify/", account.two_factor_verify, name="two_factor_verify"),
    path("", include("generations.urls")),
]
