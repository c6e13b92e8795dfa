from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from generations.views import account

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Passwords: change (signed in), reset by a mailed link (open to visitors)
    path("password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/changed/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("password/reset/", account.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        account.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(),
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
