"""Sign-in with the team's identity provider: OpenID Connect, the authorization-code flow
with PKCE, through mozilla-django-oidc.

Configured by environment (settings: OIDC_ISSUER, OIDC_RP_CLIENT_ID, …). The provider's
endpoints are read from the issuer's /.well-known/openid-configuration the first time they
are needed and kept for the life of the process (each may be set explicitly instead), so a
provider that is down does not stop the studio from starting: sign-in says so instead.

Who may sign in (`sign_in`), checked at every sign-in and every re-check of a session:
- the provider vouches for the e-mail address (`email_verified` is true);
- the address is at one of OIDC_ALLOWED_DOMAINS, and the person is in OIDC_REQUIRED_GROUP
  (each rule only when it is set);
- the member here, if there is one, is active.
A person signs in as the member their provider account is linked to; the first time, as the
member with the same (verified) e-mail address, to whom the account is then linked; with
neither, a new member is created — when the domain or group rules admit them, or when there
is a pending invitation for that address (with no rules set, only invited people join).

Sessions that signed in here are checked with the provider again every
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS (`SessionRefresh`, prompt=none): a person deactivated or
removed at the provider is signed out at their next request after that, whatever kind of
request it is (headers a client sends decide how it is sent to the provider, never whether).

When the provider refuses a person at such a check (or our rules refuse what it now says
about them), their member's API keys stop at once, until they sign in with the provider
again: a key must not outlive the access it was made with (`ProviderIdentity.refused_at`,
read by `ApiKey.objects.usable()`). The studio hears from the provider only at sign-ins
and these checks; to cut someone off who no longer opens the studio, deactivate them here
too (that stops their keys and sessions at once).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import requests
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.deprecation import MiddlewareMixin
from django.utils.translation import gettext as _
from django.views.generic import View
from django_htmx.http import HttpResponseClientRedirect
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.middleware import SessionRefresh as MozillaSessionRefresh
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from generations.accounts import members
from generations.middleware import back_after_login
from generations.models import ProviderIdentity

if TYPE_CHECKING:
    from django.contrib.auth.models import User

log = logging.getLogger(__name__)

# mozilla-django-oidc's setting names, and the discovery document's name for each.
ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER and settings.OIDC_RP_CLIENT_ID)


def provider_name() -> str:
    return settings.OIDC_PROVIDER_NAME


# --- The provider's endpoints ------------------------------------------------------------------


class ProviderUnavailable(Exception):
    """The provider's discovery document could not be read (or names another issuer)."""


_discovered: dict[str, dict[str, Any]] = {}


def discovery() -> dict[str, Any]:
    issuer = settings.OIDC_ISSUER.rstrip("/")
    if issuer not in _discovered:
        url = f"{issuer}/.well-known/openid-configuration"
        try:
            response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable(f"{url}: {exc}") from exc
        if str(document.get("issuer", "")).rstrip("/") != issuer:
            raise ProviderUnavailable(f"{url} names another issuer: {document.get('issuer')!r}")
        _discovered[issuer] = document
    return _discovered[issuer]


def setting(name: str, *default: Any) -> Any:
    """mozilla-django-oidc's settings, the endpoints from discovery unless set explicitly."""
    if name in ENDPOINTS:
        return getattr(settings, name, "") or discovery()[ENDPOINTS[name]]
    return import_from_settings(name, *default)


# --- Who may sign in -----------------------------------------------------------------------


class Refused(Exception):
    """A sign-in the rules refuse; str() tells the person why, and what to do."""


def sign_in(claims: dict[str, Any]) -> User:
    """The member these (userinfo) claims sign in as, linked or created as the module's
    docstring says; raises Refused."""
    email = str(claims.get("email") or "").strip()
    if not email or claims.get("email_verified") is not True:
        raise Refused(
            _(
                "%(provider)s did not confirm your e-mail address, so Banana Studio cannot "
                "tell who you are. Verify your address there, then try again."
            )
            % {"provider": provider_name()}
        )
    check_rules(email, claims)
    issuer, subject = settings.OIDC_ISSUER, str(claims["sub"])
    identity = (
        ProviderIdentity.objects.filter(issuer=issuer, subject=subject)
        .select_related("user")
        .first()
    )
    user = identity.user if identity else _member_for_new_identity(email, claims)
    if not user.is_active:
        raise Refused(
            _("Your Banana Studio account has been deactivated. Ask an admin if this is a mistake.")
        )
    ProviderIdentity.objects.update_or_create(
        issuer=issuer,
        subject=subject,
        defaults={
            "user": user,
            "email": email,
            "last_sign_in": timezone.now(),
            "refused_at": None,
        },
    )
    return user


# The answers with which a provider says it no longer signs the person in (OpenID Connect
# Core 3.1.2.6). "temporarily_unavailable" or "server_error" say nothing about the person.
REFUSALS = frozenset(
    {
        "login_required",
        "interaction_required",
        "access_denied",
        "consent_required",
        "account_selection_required",
    }
)


def refused(identities: Any) -> int:
    """The provider (or our rules about what it says) refused these provider accounts: the
    API keys of their members stop until they sign in with it again."""
    return int(identities.filter(refused_at__isnull=True).update(refused_at=timezone.now()))


def check_rules(email: str, claims: dict[str, Any]) -> None:
    domains = settings.OIDC_ALLOWED_DOMAINS
    allowed = {members.normalise_email(domain) for domain in domains}
    if domains and members.normalise_email(email).rpartition("@")[2] not in allowed:
        raise Refused(
            _(
                "Banana Studio is open to addresses at %(domains)s. You signed in to "
                "%(provider)s as %(email)s."
            )
            % {"domains": ", ".join(domains), "provider": provider_name(), "email": email}
        )
    group = settings.OIDC_REQUIRED_GROUP
    if group:
        groups = claims.get(settings.OIDC_GROUPS_CLAIM) or []
        if isinstance(groups, str):
            groups = [groups]
        if group not in groups:
            raise Refused(
                _(
                    "Your account at %(provider)s is not in the group “%(group)s” that may use "
                    "Banana Studio. Ask an admin to add you."
                )
                % {"provider": provider_name(), "group": group}
            )


def open_to_rules() -> bool:
    """Whether people the domain and group rules admit may join without an invitation."""
    return bool(settings.OIDC_ALLOWED_DOMAINS or settings.OIDC_REQUIRED_GROUP)


def _member_for_new_identity(email: str, claims: dict[str, Any]) -> User:
    """The member a provider account not linked yet belongs to: the one with its verified
    e-mail address, else a new member (invited, or admitted by the rules)."""
    same_address = members.users_with_address(email)
    if len(same_address) > 1:
        raise Refused(
            _("Several accounts here use %(email)s, so none is chosen. Ask an admin.")
            % {"email": email}
        )
    if same_address:
        return same_address[0]
    invitation = members.pending_invitation_for(email)
    if invitation is None and not open_to_rules():
        raise Refused(
            _("Banana Studio is open to invited people only, and %(email)s has no invitation.")
            % {"email": email}
        )
    try:
        return members.create_member(
            username_hint=str(claims.get("preferred_username") or email.partition("@")[0]),
            email=email,
            display_name=str(claims.get("name") or ""),
            invitation=invitation,
        )
    except members.InvitationRefused as exc:  # used up by a sign-in racing this one
        raise Refused(str(exc)) from exc


class ProviderBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with our rules. It acts only on the provider's answer
    at the callback (never on a password), and reads its endpoints only then."""

    get_settings = staticmethod(setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Django builds every backend for every sign-in, password ones included: reading the
        # endpoints here would ask the provider each time.
        self.UserModel = get_user_model()

    def authenticate(self, request: Any, **kwargs: Any) -> Any:
        if request is None or not enabled() or "nonce" not in kwargs or "username" in kwargs:
            return None
        self.OIDC_OP_TOKEN_ENDPOINT = setting("OIDC_OP_TOKEN_ENDPOINT")
        self.OIDC_OP_USER_ENDPOINT = setting("OIDC_OP_USER_ENDPOINT")
        self.OIDC_OP_JWKS_ENDPOINT = setting("OIDC_OP_JWKS_ENDPOINT")
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        try:
            return super().authenticate(request, **kwargs)
        except requests.RequestException as exc:
            log.warning("identity provider sign-in failed: %s", exc)
            request.oidc_refusal = _(
                "%(provider)s could not be reached or did not accept the sign-in. Try again."
            ) % {"provider": provider_name()}
            return None

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]):
        claims = self.get_userinfo(access_token, id_token, payload)
        # The userinfo must describe the person the ID token names (OpenID Connect Core 5.3.2).
        if claims.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("The userinfo's subject is not the ID token's.")
        try:
            with transaction.atomic():
                return sign_in(claims)
        except Refused as refusal:
            log.info("identity provider sign-in refused: %s", refusal)
            self.request.oidc_refusal = str(refusal)
            # After the rolled-back sign-in: a member this account is linked to no longer
            # gets in with it, so neither do their keys.
            refused(
                ProviderIdentity.objects.filter(
                    issuer=settings.OIDC_ISSUER, subject=str(claims.get("sub"))
                )
            )
            return None

    def get_user(self, user_id: Any) -> Any:
        # ModelBackend's: an inactive user's session no longer signs anyone in.
        return ModelBackend.get_user(self, user_id)


# --- Views ---------------------------------------------------------------------------------


def refused_page(request: Any, reason: str, status: int = 403) -> Any:
    return render(
        request,
        "registration/provider_refused.html",
        {"reason": reason, "provider_name": provider_name()},
        status=status,
    )


def _unreachable(request: Any) -> Any:
    reason = _("%(provider)s cannot be reached right now. Try again in a moment.") % {
        "provider": provider_name()
    }
    return refused_page(request, reason, status=503)


class SignInView(OIDCAuthenticationRequestView):
    """Off to the provider, with state, nonce and a PKCE challenge kept in the session."""

    get_settings = staticmethod(setting)

    def __init__(self, **kwargs: Any) -> None:
        View.__init__(self, **kwargs)  # the endpoint is read per request, below

    def get(self, request: Any) -> Any:
        if not enabled():
            raise Http404
        try:
            self.OIDC_OP_AUTH_ENDPOINT = setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except ProviderUnavailable as exc:
            log.warning("identity provider unavailable: %s", exc)
            return _unreachable(request)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


class CallbackView(OIDCAuthenticationCallbackView):
    """The provider's answer. A refusal is a page saying why, not a silent redirect."""

    get_settings = staticmethod(setting)

    def get(self, request: Any) -> Any:
        if not enabled():
            raise Http404
        # Who this session signed in as, before a failed check signs them out.
        self.checked_member = request.user if provider_session(request) else None
        try:
            return super().get(request)
        except ProviderUnavailable as exc:
            log.warning("identity provider unavailable: %s", exc)
            return _unreachable(request)

    def login_failure(self) -> Any:
        request = self.request
        reason = getattr(request, "oidc_refusal", None)
        error = request.GET.get("error")
        member = getattr(self, "checked_member", None)
        if member is not None and error in REFUSALS:
            refused(ProviderIdentity.objects.filter(user=member, issuer=settings.OIDC_ISSUER))
        if reason is None and error in ("login_required", "interaction_required"):
            reason = _(
                "Your sign-in at %(provider)s has ended or no longer lets you in, so you were "
                "signed out here. Sign in again."
            ) % {"provider": provider_name()}
        elif reason is None and error:
            description = request.GET.get("error_description") or error
            reason = _("%(provider)s refused the sign-in: %(description)s") % {
                "provider": provider_name(),
                "description": description[:300],
            }
        elif reason is None:
            reason = _("The sign-in could not be completed. Try again.")
        return refused_page(request, reason)


def provider_session(request: Any) -> bool:
    """Whether this request's session signed in with the identity provider."""
    return (
        enabled()
        and request.user.is_authenticated
        and request.session.get(BACKEND_SESSION_KEY) == members.PROVIDER_BACKEND
    )


class SessionRefresh(MozillaSessionRefresh):
    """Checks a provider sign-in with the provider again once its time is up (prompt=none,
    so a person still signed in there notices nothing), before any view that needs the
    member. How depends on the request, never whether (its headers are the client's word):

    - a page load is sent to the provider and comes back to the page;
    - an htmx request sends the whole tab there (HX-Redirect), back to the page it is on;
    - a form posted without htmx goes there too, back to the page it was posted from;
    - a script's request (fetch, XHR) cannot follow the provider's pages: 401 until the
      page is loaded again;
    - an image or other sub-resource of a page already shown is served for one more
      interval, then refused the same way.

    Views open to visitors (share pages, signed images, the key-authenticated APIs) never
    look at the session's member and are left alone."""

    get_settings = staticmethod(setting)

    def __init__(self, get_response: Any) -> None:
        MiddlewareMixin.__init__(self, get_response)  # settings are read per request below

    OIDC_EXEMPT_URLS: list[str] = []
    OIDC_STATE_SIZE = 32
    OIDC_NONCE_SIZE = 32
    OIDC_USE_NONCE = True
    OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_authentication_callback"

    @property
    def OIDC_OP_AUTHORIZATION_ENDPOINT(self) -> str:
        return str(setting("OIDC_OP_AUTHORIZATION_ENDPOINT"))

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:
        return str(settings.OIDC_RP_CLIENT_ID)

    @property
    def OIDC_RP_SCOPES(self) -> str:
        return str(settings.OIDC_RP_SCOPES)

    @property
    def exempt_urls(self) -> set[str]:
        return {reverse(name) for name in ("oidc_authentication_callback", "logout")}

    def process_request(self, request: Any) -> Any:
        return None  # whether a view needs the member is known in process_view

    def is_refreshable_url(self, request: Any) -> bool:
        # mozilla-django-oidc's redirect is built only once process_view has decided.
        return bool(getattr(request, "oidc_check_now", False))

    def process_view(self, request: Any, view_func: Any, args: Any, kwargs: Any) -> Any:
        if not getattr(view_func, "login_required", True) or not provider_session(request):
            return None
        if request.path in self.exempt_urls:
            return None
        overdue = time.time() - request.session.get("oidc_id_token_expiration", 0)
        if overdue < 0:
            return None
        htmx = "HX-Request" in request.headers
        destination = request.headers.get("Sec-Fetch-Dest", "document")
        if not htmx and destination not in ("document", "iframe", "frame"):
            if destination != "empty" and overdue < settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS:
                return None
            return HttpResponse(
                _("Your sign-in needs checking again: reload the page."),
                status=401,
                content_type="text/plain",
            )
        request.oidc_check_now = True
        try:
            response = super().process_request(request)
        except ProviderUnavailable as exc:
            # Checked again at the next request; the provider being down signs nobody out.
            log.warning("identity provider unavailable for a session check: %s", exc)
            return None
        if response is None or response.status_code != 302:
            return response
        if htmx or request.method != "GET":
            # Not back to a fragment's or a form action's own URL: to the page it was on.
            request.session["oidc_login_next"] = back_after_login(request)
        if htmx:
            return HttpResponseClientRedirect(response["Location"])
        return response
