"""Passwords: resetting a forgotten one by mail, and what a new password may take with it.

A reset is asked for on the web and mailed by a task (`tasks.send_password_reset`): the
page answers at once and in the same time whether or not the address has an account (the
mail server's 250 ms used to tell), and the answer is the same. Requests are limited per
client network and per address (PASSWORD_RESETS_PER_CLIENT, PASSWORD_RESETS_PER_ADDRESS,
an hour each), counted whether the address has an account or not.

Setting a new password (by the mailed link, or changing it signed in) and "sign out
everywhere" offer to revoke the member's API keys too, ticked by default: a key is a
password of its own, and one that leaked with the password would outlive it.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib.auth.forms import PasswordChangeForm, PasswordResetForm, SetPasswordForm
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from generations import background, ratelimit
from generations.accounts import members
from generations.api import keys

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest, HttpResponse

RESET_WINDOW = 3600


# --- Asking for a reset --------------------------------------------------------------------


def base_url(request: HttpRequest) -> str:
    """Where the mailed link points: PUBLIC_BASE_URL, else the site as this request reached
    it (the Host header is checked against ALLOWED_HOSTS)."""
    return settings.PUBLIC_BASE_URL or f"{request.scheme}://{request.get_host()}"


def reset_paused(request: HttpRequest, address: str) -> HttpResponse | None:
    """Count one reset request from this client's network and for this address; while
    either is over its hourly limit, the page saying so (429), else None."""
    network = ratelimit.network_of(ratelimit.client_address(request))
    # The address only as a hash: the counters table holds no addresses.
    digest = hashlib.sha256(members.normalise_email(address).encode()).hexdigest()[:40]
    for key, limit in (
        (f"reset-client:{network}", settings.PASSWORD_RESETS_PER_CLIENT),
        (f"reset-address:{digest}", settings.PASSWORD_RESETS_PER_ADDRESS),
    ):
        if limit and ratelimit.hit(key, RESET_WINDOW) > limit:
            minutes = -(-ratelimit.seconds_left(RESET_WINDOW) // 60)
            response = render(
                request, "registration/password_reset_paused.html", {"minutes": minutes}, status=429
            )
            response["Retry-After"] = str(minutes * 60)
            return response
    return None


def request_reset(address: str, base_url: str) -> None:
    """Have the reset mail sent in the background: the caller does the same work whether
    the address has an account or not."""
    background.enqueue("send_password_reset", address=address, base_url=base_url)


class ResetRequestForm(PasswordResetForm):
    """Django's, finding accounts by the address as members.normalise_email compares
    addresses (Django's own matching folds more: NFKC and casefold)."""

    def get_users(self, email: str) -> list[User]:
        return [
            user
            for user in members.users_with_address(email)
            if user.is_active and user.has_usable_password()
        ]


def send_reset_mail(address: str, base_url: str) -> None:
    """Mail a reset link to every active account with a password at `address` (usually
    one; none: nothing is sent). Run by the task."""
    form = ResetRequestForm({"email": address})
    if not form.is_valid():
        return
    hours = max(1, round(settings.PASSWORD_RESET_TIMEOUT / 3600))
    form.save(
        domain_override=urlsplit(base_url).netloc,
        use_https=base_url.startswith("https://"),
        extra_email_context={"base_url": base_url, "valid_hours": hours},
    )


# --- What a new password, or signing out everywhere, takes with it ---------------------------


class RevokeKeysMixin(forms.Form):
    """A ticked box: revoke the member's active API keys too. Left out when they have none."""

    revoke_keys = forms.BooleanField(required=False, initial=True)

    def offer_to_revoke_keys(self, user: User) -> None:
        count = keys.active_key_count(user)
        if not count:
            del self.fields["revoke_keys"]
            return
        field = self.fields["revoke_keys"]
        field.label = ngettext(
            "Also revoke my API key",
            "Also revoke my %(count)d API keys",
            count,
        ) % {"count": count}
        field.help_text = _(
            "Scripts that use your keys stop at once; make new keys afterwards. Leave this "
            "ticked if anyone else may have seen your password or a key."
        )

    def revoke_keys_if_asked(self, user: User) -> int:
        """After the form's own action: revoke the keys if the box was ticked; how many."""
        if not self.cleaned_data.get("revoke_keys"):
            return 0
        return keys.revoke_all(user, by=user)


class NewPasswordForm(RevokeKeysMixin, SetPasswordForm):
    """The new password set through the mailed link."""

    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(user, *args, **kwargs)
        self.offer_to_revoke_keys(user)


class ChangePasswordForm(RevokeKeysMixin, PasswordChangeForm):
    """A signed-in member's new password."""

    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(user, *args, **kwargs)
        self.offer_to_revoke_keys(user)


class SignOutEverywhereForm(RevokeKeysMixin):
    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.offer_to_revoke_keys(user)
