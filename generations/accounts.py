"""Accounts and sign-in security: the login throttle (django-axes) and its lockout page.

The throttle's policy and numbers live in settings (LOGIN_FAILURE_LIMIT,
LOGIN_COOLOFF_MINUTES); failures are rows in the database, so every process counts them.
"""

import math

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.shortcuts import render


class LoginThrottleBackend(AxesStandaloneBackend):
    """Refuses every sign-in for an account from an address that is locked out.

    Only a web request has an address to throttle: an authenticate() call without one (a
    shell, a management command, the test client's login()) has nothing to count against
    and is let through to the next backend. Both login pages pass their request."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
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
