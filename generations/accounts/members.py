"""Members: how people come to exist, what they may do, and their signed-in sessions.

- Every user has a credit account, a profile and the team's starting grant from the moment
  they are created, however that happens (an invitation, the identity provider, the admin,
  `createsuperuser`): a post_save signal on the user model. Admins can so grant credits
  before a member first signs in.
- Roles are Django's own flags and permissions: a member is neither staff nor superuser;
  an auditor is staff in the "Auditors" group, which holds every `view_*` permission and
  nothing else (the admin then shows everything read-only, and its custom views check the
  permission they need); an admin is a superuser.
- Invitations: a single-use link, mailed, that expires. Only its token's hash is stored.
- E-mail addresses are compared in one form, `normalise_email`, in Python: the database only
  narrows the candidates (its case-insensitive match folds more than ours).
- Sessions: recorded at sign-in (MemberSession), so "sign out everywhere" and deactivation
  find a member's sessions directly. Deactivating a user ends every session they have.
- Model access: `allowed_models(user)` is the one rule for which models (and image sizes)
  a member may use. The compose form offers only those, and `check_model_access` refuses
  the rest in services.create_generation, which every way of submitting goes through.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import string
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import timedelta
from importlib import import_module
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet, StringAgg, Subquery, TextField, Value
from django.db.models.functions import Cast, JSONArray
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from generations import catalogue, credits, prepared
from generations.models import (
    CreditAccount,
    Invitation,
    MemberProfile,
    MemberSession,
    ModelAccess,
    Role,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest

AUDITOR_GROUP = "Auditors"
PROVIDER_BACKEND = "generations.accounts.oidc.ProviderBackend"

# --- Every user, from the moment they exist ---------------------------------------------------


def on_user_saved(sender: Any, instance: User, created: bool, raw: bool = False, **kwargs: Any):
    """post_save on the user model: a new user gets their credit account, profile and the
    starting grant at once; a user saved as inactive loses every session they have."""
    if raw:  # loaddata: the fixture brings its own rows
        return
    if created:
        CreditAccount.objects.get_or_create(user=instance)
        MemberProfile.objects.get_or_create(user=instance)
        credits.grant_starting_credits(instance)
    if not instance.is_active:
        end_sessions(instance)


def profile_for(user: User) -> MemberProfile:
    return MemberProfile.objects.get_or_create(user=user)[0]


# --- Roles ----------------------------------------------------------------------------------


def auditor_group() -> Group:
    """The auditors' group, holding every view permission there is (and only those)."""
    group = Group.objects.get_or_create(name=AUDITOR_GROUP)[0]
    wanted = set(
        Permission.objects.filter(codename__startswith="view_").values_list("pk", flat=True)
    )
    if set(group.permissions.values_list("pk", flat=True)) != wanted:
        group.permissions.set(wanted)
    return group


def ensure_role_groups(sender: Any = None, **kwargs: Any) -> None:
    """post_migrate: new models' view permissions reach the auditors at once."""
    auditor_group()


def role_of(user: User) -> Role:
    if user.is_superuser:
        return Role.ADMIN
    if user.is_staff:
        return Role.AUDITOR
    return Role.MEMBER


def set_role(user: User, role: Role | str) -> None:
    role = Role(role)
    user.is_staff = role != Role.MEMBER
    user.is_superuser = role == Role.ADMIN
    user.save(update_fields=["is_staff", "is_superuser"])
    group = auditor_group()
    if role == Role.AUDITOR:
        user.groups.add(group)
    else:
        user.groups.remove(group)


# --- Model access ---------------------------------------------------------------------------


class ModelNotAllowed(PermissionDenied):
    """A submission of a model (or size) this member may not use; str() says which. A
    PermissionDenied, so a view that does not catch it answers 403."""


# Where a lookup that read the rules along with a member (an API key's) keeps them on it.
_RULES_READ = "_model_access_rules"
_RULE_FIELDS = ("model", "image_size", "members", "auditors", "admins", "names_user")


def _rules(user: int | OuterRef) -> QuerySet[ModelAccess]:
    """Every rule, each with whether it names this user (an id, or a reference to the
    outer query's user column)."""
    named = ModelAccess.users.through.objects.filter(
        modelaccess=OuterRef("pk"), user=OuterRef(user) if isinstance(user, OuterRef) else user
    )
    return ModelAccess.objects.annotate(names_user=Exists(named))


_RULES = prepared.Read(
    ModelAccess,
    lambda shape, user: _rules(user).values_list(*_RULE_FIELDS),
    user=ModelAccess.users.through._meta.get_field("user"),
)


def rules_of(user_column: str) -> Subquery:
    """For a query of rows with a user (`user_column`): every rule with whether it names
    that user, as one JSON text for `keep_rules_read`, so that a lookup reads the member's
    rules in its own query."""
    return Subquery(
        _rules(OuterRef(user_column))
        .order_by()
        .annotate(all=Value(1))  # a constant: one group of every rule
        .values("all")
        .annotate(rules=StringAgg(Cast(JSONArray(*_RULE_FIELDS), TextField()), Value(",")))
        .values("rules")
    )


def keep_rules_read(user: User, rules: str | None) -> None:
    """Keep on `user` the rules a lookup read with `rules_of` (for this request only)."""
    setattr(user, _RULES_READ, json.loads(f"[{rules or ''}]"))


def _denied(user: User) -> set[tuple[str, str]]:
    """(model, image size) pairs this user may not use ("" = the whole model)."""
    role = role_of(user)
    rows = getattr(user, _RULES_READ, None)
    if rows is None:
        rows = _RULES.rows((), user=user.pk)
    denied = set()
    for row in rows:
        rule = dict(zip(_RULE_FIELDS, row, strict=True))
        if not rule[f"{role}s"] and not rule["names_user"]:
            denied.add((rule["model"], rule["image_size"]))
    return denied


def allowed_models(user: User) -> list[catalogue.ModelOption]:
    """The models on offer that this member may use, each with the sizes they may pick."""
    denied = _denied(user)
    allowed = []
    for option in catalogue.model_options():
        if (option.id, "") in denied:
            continue
        sizes = tuple(size for size in option.sizes if (option.id, size) not in denied)
        allowed.append(replace(option, sizes=sizes))
    return allowed


def check_model_access(user: User, model: str, image_size: str | None = "") -> None:
    """Raise ModelNotAllowed unless this member may submit this model at this size."""
    option = next((o for o in allowed_models(user) if o.id == model), None)
    if option is None:
        raise ModelNotAllowed(
            _("“%(model)s” is not one of the models you may use.") % {"model": model}
        )
    offered = catalogue.get_model_option(model)
    size = image_size or ""
    if size and offered and size in offered.sizes and size not in option.sizes:
        raise ModelNotAllowed(
            _("You may not use %(label)s at %(size)s. Ask an admin for access.")
            % {"label": option.label, "size": size.upper()}
        )


# --- Invitations ----------------------------------------------------------------------------


class InvitationRefused(Exception):
    """An invitation that cannot be used (any more); str() says why, for the visitor."""

    def __init__(self, invitation: Invitation | None) -> None:
        self.invitation = invitation
        state = invitation.state() if invitation else None
        if state == Invitation.State.ACCEPTED:
            message = _("This invitation has already been used.")
        elif state == Invitation.State.EXPIRED:
            message = _("This invitation has expired.")
        elif state == Invitation.State.REVOKED:
            message = _("This invitation has been withdrawn.")
        else:
            message = _("This invitation link is not valid.")
        super().__init__(message)


def refusal_message(refusal: Exception) -> str:
    """A refusal as the member reads it. Short of credits, it also names whom to ask (the
    team's admins): a new member may start with none and could not know."""
    message = str(refusal)
    if isinstance(refusal, credits.NotEnoughCredits):
        admins = (
            get_user_model()
            .objects.filter(is_active=True, is_superuser=True)
            .order_by("username")
            .values_list("username", flat=True)
        )
        names = ", ".join(admins[:5])
        ask = (
            _("Ask an admin for more: %(names)s.") % {"names": names}
            if names
            else _("Ask an admin for more.")
        )
        message = f"{message} {ask}"
    return message


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_invitation(token: str) -> Invitation | None:
    return Invitation.objects.filter(token_hash=hash_token(token)).first()


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def normalise_email(address: str) -> str:
    """The one form in which addresses are compared, and invitations stored: Unicode NFC
    (one encoding of each letter, as RFC 6532 asks of addresses), no surrounding space,
    ASCII letters in lower case. Nothing else is folded: a dotless i (U+0131), an ß or an
    "ff" ligature stays itself, so "al\u0131ce@example.com" is never alice@example.com.
    PostgreSQL's UPPER(), Python's casefold() and NFKC would make some of them one, and a
    person at the identity provider could then take over a member's account. Letters
    outside ASCII keep their case: two such spellings are two addresses (an admin links
    them by hand if they are one person's)."""
    return unicodedata.normalize("NFC", address.strip()).translate(_ASCII_LOWER)


def with_address(rows: QuerySet[Any], address: str, field: str = "email") -> list[Any]:
    """The rows whose `field` is `address`, both normalised. The database's
    case-insensitive match finds every candidate (it folds at least ASCII case); the
    comparison that decides is ours."""
    wanted = normalise_email(address)
    if not wanted:
        return []
    candidates = rows.filter(**{f"{field}__iexact": wanted})
    return [row for row in candidates if normalise_email(getattr(row, field)) == wanted]


def users_with_address(address: str) -> list[User]:
    return with_address(get_user_model().objects.order_by("pk"), address)


EMAIL_SEPARATORS = re.compile(r"[\s,;]+")


def split_addresses(text: str) -> list[str]:
    """Addresses as an admin pastes them: one per line, or separated by commas or spaces."""
    seen: dict[str, str] = {}
    for word in EMAIL_SEPARATORS.split(text):
        word = word.strip().strip("<>")
        if word:
            seen.setdefault(normalise_email(word), word)
    return list(seen.values())


def existing_account(address: str) -> str | None:
    """Why this address is not invited: it belongs to a member already (a deactivated one is
    reactivated in the admin, not invited into a second account); else None."""
    users = users_with_address(address)
    if any(user.is_active for user in users):
        return _("already a member")
    if users:
        return _("a deactivated member: reactivate them in the admin instead")
    return None


@dataclass
class InviteOutcome:
    sent: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def invitation_lifetime() -> timedelta:
    return timedelta(days=settings.BANANA_INVITATION_DAYS)


def invite(
    addresses: list[str], invited_by: User | None, role: str, base_url: str
) -> InviteOutcome:
    """Mail each address a new single-use link. An address that already belongs to a
    member (active or not) is skipped; one with a pending invitation gets a new link, and
    the old one stops working. `base_url` is where the link points (PUBLIC_BASE_URL, or the
    request's)."""
    outcome = InviteOutcome()
    for raw in addresses:
        address = normalise_email(raw)
        if reason := existing_account(address):
            outcome.skipped.append((address, reason))
            continue
        token = secrets.token_urlsafe(32)
        now = timezone.now()
        with transaction.atomic():
            earlier = with_address(Invitation.objects.pending(now), address)
            Invitation.objects.filter(pk__in=[i.pk for i in earlier]).update(revoked_at=now)
            invitation = Invitation.objects.create(
                email=address,
                role=role,
                token_hash=hash_token(token),
                invited_by=invited_by,
                created_at=now,
                expires_at=now + invitation_lifetime(),
            )
        try:
            send_invitation(invitation, token, base_url)
        except Exception as exc:  # any mail failure: the link was never delivered
            invitation.delete()
            outcome.failed.append((address, f"{type(exc).__name__}: {exc}"[:200]))
        else:
            outcome.sent.append(address)
    return outcome


def send_invitation(invitation: Invitation, token: str, base_url: str) -> None:
    inviter = invitation.invited_by
    context = {
        "link": base_url.rstrip("/") + reverse("invitation", args=[token]),
        "invited_by": (inviter.get_full_name() or inviter.get_username()) if inviter else "",
        "valid_days": settings.BANANA_INVITATION_DAYS,
        "role": Role(invitation.role).label,
    }
    subject = "".join(render_to_string("members/invitation_subject.txt", context).splitlines())
    body = render_to_string("members/invitation_email.txt", context)
    EmailMessage(subject, body, to=[invitation.email]).send()


def revoke(invitations: Any) -> int:
    """Withdraw pending invitations (a queryset); returns how many were still pending."""
    return int(invitations.pending().update(revoked_at=timezone.now()))


def _claim(invitation: Invitation) -> None:
    """Use the invitation up, inside the caller's transaction: exactly one caller wins."""
    if not Invitation.objects.pending().filter(pk=invitation.pk).update(accepted_at=timezone.now()):
        invitation.refresh_from_db()
        raise InvitationRefused(invitation)


def _joined(invitation: Invitation, user: User) -> None:
    Invitation.objects.filter(pk=invitation.pk).update(accepted_by=user)
    if invitation.role != Role.MEMBER:
        set_role(user, invitation.role)


def accept_with_password(invitation: Invitation, username: str, password: str) -> User:
    """Join through the mailed link with a username and password of one's own."""
    with transaction.atomic():
        _claim(invitation)
        user = get_user_model().objects.create_user(
            username, email=invitation.email, password=password
        )
        _joined(invitation, user)
    return user


def pending_invitation_for(address: str) -> Invitation | None:
    invitations = with_address(Invitation.objects.pending().order_by("-pk"), address)
    return invitations[0] if invitations else None


def create_member(
    *, username_hint: str, email: str, display_name: str = "", invitation: Invitation | None
) -> User:
    """A new member without a password (they sign in with the identity provider); uses up
    `invitation` when there is one. Inside one transaction: nothing is left half made."""
    with transaction.atomic():
        if invitation is not None:
            _claim(invitation)
        user = get_user_model().objects.create_user(free_username(username_hint), email=email)
        if display_name:
            MemberProfile.objects.filter(user=user).update(display_name=display_name[:100])
        if invitation is not None:
            _joined(invitation, user)
    return user


USERNAME_UNSAFE = re.compile(r"[^\w.@+-]")


def free_username(hint: str) -> str:
    """A username like `hint` (made of the characters usernames allow) nobody has yet."""
    base = USERNAME_UNSAFE.sub("", hint)[:140] or "member"
    users = get_user_model().objects
    candidate, n = base, 1
    while users.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}{n}"
    return candidate


# --- Sessions -------------------------------------------------------------------------------


def session_store() -> Any:
    """The session engine's store class (SESSION_ENGINE)."""
    return import_module(settings.SESSION_ENGINE).SessionStore


def record_session(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    """user_logged_in: remember this session as one of the member's."""
    session = request.session
    if not session.session_key:
        session.save()
    MemberSession.objects.update_or_create(
        session_key=session.session_key,
        defaults={
            "user": user,
            "created_at": timezone.now(),
            "user_agent": request.headers.get("User-Agent", "")[:200],
            "via_provider": session.get(BACKEND_SESSION_KEY) == PROVIDER_BACKEND,
        },
    )


def forget_session(sender: Any, request: HttpRequest, user: User | None, **kwargs: Any) -> None:
    """user_logged_out: the session is being ended; its record goes with it."""
    key = request.session.session_key if hasattr(request, "session") else None
    if key:
        MemberSession.objects.filter(session_key=key).delete()


def session_rotated(request: HttpRequest, old_key: str | None) -> None:
    """The session's key changed (a password change keeps the member signed in under a new
    key): move the record to the new key."""
    if old_key and request.session.session_key:
        MemberSession.objects.filter(session_key=old_key).update(
            session_key=request.session.session_key
        )


def end_sessions(user: User, *, keep: str | None = None) -> int:
    """Sign the user out of every session (but `keep`); returns how many were ended."""
    rows = MemberSession.objects.filter(user=user)
    if keep:
        rows = rows.exclude(session_key=keep)
    keys = list(rows.values_list("session_key", flat=True))
    store = session_store()()
    for key in keys:
        store.delete(key)
    MemberSession.objects.filter(session_key__in=keys).delete()
    return len(keys)


def end_session(user: User, session_id: int) -> bool:
    row = MemberSession.objects.filter(user=user, pk=session_id).first()
    if row is None:
        return False
    session_store()().delete(row.session_key)
    row.delete()
    return True


def live_sessions(user: User) -> list[MemberSession]:
    """The member's sessions that still sign them in; records of ended ones are dropped."""
    store = session_store()
    live, gone = [], []
    for row in MemberSession.objects.filter(user=user):
        if store(row.session_key).load().get(SESSION_KEY) == str(user.pk):
            live.append(row)
        else:
            gone.append(row.pk)
    if gone:
        MemberSession.objects.filter(pk__in=gone).delete()
    return live
