"""Members: invitations, each member's profile, their signed-in sessions, the identity
provider's accounts linked to them, and which models are reserved for some members.

The rules live in generations/accounts/members.py (and accounts/oidc.py for the provider).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """What a member may do. Stored on the user as Django's own flags and groups
    (generations.accounts.members.set_role); an invitation carries the role its member gets."""

    MEMBER = "member", _("Member")
    AUDITOR = "auditor", _("Auditor (reads the admin, changes nothing)")
    ADMIN = "admin", _("Admin")


# An invitation makes a member or an auditor; admins are made in the admin, by an admin.
INVITABLE_ROLES = [(Role.MEMBER.value, Role.MEMBER.label), (Role.AUDITOR.value, Role.AUDITOR.label)]


class InvitationQuerySet(models.QuerySet):
    def pending(self, now=None):
        now = now or timezone.now()
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now)


class Invitation(models.Model):
    """A single-use, expiring link mailed to someone who may join the team.

    Only the token's SHA-256 is stored: the link in the mail is the one copy of it."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        EXPIRED = "expired", _("Expired")
        REVOKED = "revoked", _("Revoked")

    email = models.EmailField(_("e-mail address"), db_index=True)
    role = models.CharField(
        _("role"),
        max_length=10,
        choices=INVITABLE_ROLES,
        default=Role.MEMBER,
    )
    token_hash = models.CharField(
        max_length=64, unique=True, editable=False, verbose_name=_("token hash")
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("invited by"),
    )
    created_at = models.DateTimeField(_("sent"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("joined as"),
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self):
        return self.email

    def state(self, now=None):
        if self.accepted_at:
            return self.State.ACCEPTED
        if self.revoked_at:
            return self.State.REVOKED
        if self.expires_at <= (now or timezone.now()):
            return self.State.EXPIRED
        return self.State.PENDING


class MemberProfile(models.Model):
    """What a member sets for themselves. Language and time zone are stored for the
    localised interface; empty means the team's default."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    language = models.CharField(_("language"), max_length=10, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")

    def __str__(self):
        return self.display_name or str(self.user)


class MemberSession(models.Model):
    """One signed-in session of a member, recorded at sign-in: how "sign out everywhere"
    and deactivation find a member's sessions without decoding every session."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="member_sessions"
    )
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(_("signed in"), default=timezone.now)
    user_agent = models.CharField(_("browser"), max_length=200, blank=True)
    via_provider = models.BooleanField(_("with the identity provider"), default=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("signed-in session")
        verbose_name_plural = _("signed-in sessions")

    def __str__(self):
        return f"{self.user} {self.created_at:%Y-%m-%d %H:%M}"


class ProviderIdentity(models.Model):
    """The identity provider's account (issuer + subject) a member signs in with.

    `refused_at` is set when the provider (or our rules about what it says) last refused
    this person, at a sign-in or a session's re-check; the member's API keys stop until
    they sign in with the provider again (generations/accounts/oidc.py)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_identities"
    )
    issuer = models.CharField(_("issuer"), max_length=255)
    subject = models.CharField(_("subject"), max_length=255)
    email = models.EmailField(_("e-mail at the provider"), blank=True)
    linked_at = models.DateTimeField(_("linked"), default=timezone.now)
    last_sign_in = models.DateTimeField(_("last sign-in"), null=True, blank=True)
    refused_at = models.DateTimeField(
        _("refused by the provider"),
        null=True,
        blank=True,
        help_text=_("The member's API keys stop until they sign in with the provider again."),
    )

    class Meta:
        verbose_name = _("identity provider account")
        verbose_name_plural = _("identity provider accounts")
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="unique_provider_identity")
        ]

    def __str__(self):
        return self.email or self.subject


class ModelAccess(models.Model):
    """A model, or one image size of it, reserved for some roles and members. A model (or
    size) with no rule is open to everyone; one with a rule only to whom the rule names."""

    model = models.CharField(_("model"), max_length=100)
    image_size = models.CharField(
        _("image size"), max_length=4, blank=True, help_text=_("Empty: the whole model.")
    )
    members = models.BooleanField(_("members may use it"), default=False)
    auditors = models.BooleanField(_("auditors may use it"), default=False)
    admins = models.BooleanField(_("admins may use it"), default=True)
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        verbose_name=_("and these people"),
    )

    class Meta:
        ordering = ["model", "image_size"]
        verbose_name = _("model access rule")
        verbose_name_plural = _("model access rules")
        constraints = [
            models.UniqueConstraint(fields=["model", "image_size"], name="unique_model_access"),
        ]

    def __str__(self):
        return f"{self.model} {self.image_size.upper() or _('(all sizes)')}"
