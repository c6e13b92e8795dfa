"""Admin for members: invitations (invite many at once, revoke, send again), users with
their role, profile and provider accounts, and which models are reserved for whom.

Every change here checks a permission an auditor does not have (auditors hold view
permissions only): inviting needs add_invitation, revoking and roles change_invitation and
change_user, making an admin being a superuser."""

from axes import admin as axes_admin
from axes.models import AccessAttempt
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from generations import catalogue, credits, upstream
from generations.accounts import members
from generations.accounts.forms import InviteForm
from generations.admin.base import ReadOnlyInline
from generations.models import Invitation, MemberProfile, ModelAccess, ProviderIdentity, Role

User = get_user_model()


def _base_url(request):
    """Where mailed links point: PUBLIC_BASE_URL, else the address this admin is using."""
    return settings.PUBLIC_BASE_URL or request.build_absolute_uri("/").rstrip("/")


def _report(request, outcome):
    if outcome.sent:
        messages.success(
            request,
            ngettext(
                "Invitation sent to %(addresses)s.",
                "%(count)d invitations sent: %(addresses)s.",
                len(outcome.sent),
            )
            % {"count": len(outcome.sent), "addresses": ", ".join(outcome.sent)},
        )
    for address, why in outcome.skipped:
        messages.warning(
            request, _("Not invited: %(address)s (%(why)s).") % {"address": address, "why": why}
        )
    for address, why in outcome.failed:
        messages.error(
            request,
            _("The mail to %(address)s could not be sent: %(why)s")
            % {"address": address, "why": why},
        )


class StateFilter(admin.SimpleListFilter):
    title = gettext_lazy("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return Invitation.State.choices

    def queryset(self, request, queryset):
        now = timezone.now()
        match self.value():
            case Invitation.State.PENDING:
                return queryset.pending(now)
            case Invitation.State.ACCEPTED:
                return queryset.filter(accepted_at__isnull=False)
            case Invitation.State.REVOKED:
                return queryset.filter(accepted_at__isnull=True, revoked_at__isnull=False)
            case Invitation.State.EXPIRED:
                return queryset.filter(
                    accepted_at__isnull=True, revoked_at__isnull=True, expires_at__lte=now
                )
        return queryset


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Pending, accepted, expired and withdrawn invitations. "Add" is the invite form: many
    addresses at once. Invitations are records: nobody edits or deletes them."""

    list_display = ["email", "role", "state", "invited_by", "created_at", "expires_at", "joined"]
    list_filter = [StateFilter, "role"]
    search_fields = ["email"]
    list_select_related = ["invited_by", "accepted_by"]
    date_hierarchy = "created_at"
    readonly_fields = fields = (
        "email",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
        "revoked_at",
    )
    actions = ["revoke", "send_again"]

    @admin.display(description=gettext_lazy("state"))
    def state(self, obj):
        return obj.state().label

    @admin.display(description=gettext_lazy("joined as"), ordering="accepted_by")
    def joined(self, obj):
        return obj.accepted_by or "—"

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request):
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.action(
        description=gettext_lazy("Withdraw the selected invitations"), permissions=["revoke"]
    )
    def revoke(self, request, queryset):
        count = members.revoke(queryset)
        messages.success(
            request,
            ngettext("%(count)d invitation withdrawn.", "%(count)d invitations withdrawn.", count)
            % {"count": count},
        )

    @admin.action(
        description=gettext_lazy("Send the selected invitations again (a new link)"),
        permissions=["add"],
    )
    def send_again(self, request, queryset):
        wanted = [i for i in queryset if i.state() != Invitation.State.ACCEPTED]
        for role in {i.role for i in wanted}:
            addresses = [i.email for i in wanted if i.role == role]
            _report(request, members.invite(addresses, request.user, role, _base_url(request)))

    def add_view(self, request, form_url="", extra_context=None):
        """The invite form: a textarea of addresses and the role they join as."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = InviteForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            outcome = members.invite(
                form.cleaned_data["addresses"],
                request.user,
                form.cleaned_data["role"],
                _base_url(request),
            )
            _report(request, outcome)
            return redirect("admin:generations_invitation_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Invite people"),
            "form": form,
            "opts": self.opts,
            "valid_days": settings.BANANA_INVITATION_DAYS,
            "starting_credits": credits.starting_credits(),
        }
        return TemplateResponse(request, "admin/generations/invite.html", context)


class ProfileInline(admin.StackedInline):
    model = MemberProfile
    can_delete = False
    fields = ["display_name", "language", "time_zone"]


class ProviderIdentityInline(ReadOnlyInline):
    model = ProviderIdentity
    readonly_fields = fields = (
        "issuer",
        "subject",
        "email",
        "linked_at",
        "last_sign_in",
        "refused_at",
    )
    # Unlinks: the next sign-in links again by verified e-mail address (and a refusal by the
    # provider, which stops the member's keys, goes with it).
    can_delete = True

    def has_delete_permission(self, request, obj=None):
        return request.user.has_perm("generations.delete_provideridentity")


if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class MemberAdmin(UserAdmin):
    """Django's user admin with each member's role, profile and provider accounts. Saving
    a user as inactive signs them out everywhere (generations.accounts.members)."""

    list_display = [
        "username",
        "email",
        "display_name",
        "role",
        "is_active",
        "last_login",
        "date_joined",
    ]
    list_select_related = ["profile"]
    search_fields = ["username", "email", "profile__display_name"]
    inlines = [ProfileInline, ProviderIdentityInline]
    actions = ["make_member", "make_auditor", "make_admin", "deactivate"]

    @admin.display(description=gettext_lazy("display name"))
    def display_name(self, obj):
        profile = getattr(obj, "profile", None)
        return profile.display_name if profile else ""

    @admin.display(description=gettext_lazy("role"))
    def role(self, obj):
        return members.role_of(obj).label

    def _set_role(self, request, queryset, role):
        users = list(queryset)
        if any(u.pk == request.user.pk for u in users) and role != Role.ADMIN:
            messages.error(request, _("You cannot change your own role."))
            return
        if not request.user.is_superuser and any(u.is_superuser for u in users):
            raise PermissionDenied
        for user in users:
            members.set_role(user, role)
        messages.success(
            request,
            ngettext(
                "%(count)d member is now: %(role)s.",
                "%(count)d members are now: %(role)s.",
                len(users),
            )
            % {"count": len(users), "role": role.label},
        )

    @admin.action(description=gettext_lazy("Role: member"), permissions=["change"])
    def make_member(self, request, queryset):
        self._set_role(request, queryset, Role.MEMBER)

    @admin.action(
        description=gettext_lazy("Role: auditor (read-only admin)"), permissions=["change"]
    )
    def make_auditor(self, request, queryset):
        self._set_role(request, queryset, Role.AUDITOR)

    def has_make_admin_permission(self, request):
        return request.user.is_superuser

    @admin.action(description=gettext_lazy("Role: admin"), permissions=["make_admin"])
    def make_admin(self, request, queryset):
        self._set_role(request, queryset, Role.ADMIN)

    @admin.action(
        description=gettext_lazy("Deactivate and sign out everywhere"), permissions=["change"]
    )
    def deactivate(self, request, queryset):
        users = list(queryset.exclude(pk=request.user.pk).filter(is_active=True))
        if not request.user.is_superuser and any(u.is_superuser for u in users):
            raise PermissionDenied  # only an admin deactivates an admin
        for user in users:
            user.is_active = False
            user.save(update_fields=["is_active"])  # the signal ends their sessions
        messages.success(
            request,
            ngettext("%(count)d member deactivated.", "%(count)d members deactivated.", len(users))
            % {"count": len(users)},
        )


class ModelAccessForm(forms.ModelForm):
    model = forms.ChoiceField(label=gettext_lazy("model"))
    image_size = forms.ChoiceField(label=gettext_lazy("image size"), required=False)

    class Meta:
        model = ModelAccess
        fields = ["model", "image_size", "members", "auditors", "admins", "users"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [(m.id, m.label) for m in catalogue.model_options()]
        self.fields["image_size"].choices = [
            ("", _("All sizes (the whole model)")),
            *((size, size.upper()) for size in upstream.IMAGE_SIZES),
        ]


@admin.register(ModelAccess)
class ModelAccessAdmin(admin.ModelAdmin):
    """A model, or one size of it, reserved for the roles and people ticked. Models and sizes
    with no rule are open to everyone."""

    form = ModelAccessForm
    list_display = ["model", "size", "members", "auditors", "admins", "people"]
    filter_horizontal = ["users"]

    @admin.display(description=gettext_lazy("image size"), ordering="image_size")
    def size(self, obj):
        return obj.image_size.upper() or _("all sizes")

    @admin.display(description=gettext_lazy("and these people"))
    def people(self, obj):
        return ", ".join(u.get_username() for u in obj.users.all()) or "—"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("users")


class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin):
    """django-axes' sign-in attempts. Its "clean up" action deletes rows yet asks for no
    permission: here it needs the delete permission, so auditors (who only view) never get
    it. It also reads the time axes sets only on sign-in requests; it is set here."""

    @admin.action(description=gettext_lazy("Clean up expired attempts"), permissions=["delete"])
    def cleanup_expired_attempts(self, request, queryset):
        request.axes_attempt_time = timezone.now()
        return super().cleanup_expired_attempts(request, queryset)


admin.site.unregister(AccessAttempt)
admin.site.register(AccessAttempt, AccessAttemptAdmin)
