"""Forms of the members' pages: joining by invitation, one's own settings, and the admin's
invitations."""

from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from generations.accounts import members
from generations.models import MemberProfile
from generations.models.members import INVITABLE_ROLES


class JoinForm(UserCreationForm):
    """A username and password of one's own, checked by the project's password validators
    (the invited address counts for "too similar")."""

    def __init__(self, *args, invitation, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.email = invitation.email
        self.fields["username"].widget.attrs.update(autofocus=True, autocomplete="username")


def language_choices(browser_language=None):
    """No choice follows the browser (generations.languages); it says what that gives."""
    names = dict(settings.LANGUAGES)
    shown = names.get(browser_language or settings.LANGUAGE_CODE, names[settings.LANGUAGE_CODE])
    return [("", _("As your browser asks (%(language)s)") % {"language": shown}), *names.items()]


def time_zone_choices(browser_zone=None):
    # The zones people live in (Area/City), not the database's aliases and fixed offsets
    # ("Etc/GMT+9", "ROK", "localtime").
    places = sorted(
        zone
        for zone in available_timezones()
        if "/" in zone and zone.split("/")[0] in TIME_ZONE_AREAS
    )
    return [
        ("", _("As your browser says (%(zone)s)") % {"zone": browser_zone or settings.TIME_ZONE}),
        *((zone, zone.replace("_", " ")) for zone in places),
    ]


TIME_ZONE_AREAS = {
    "Africa",
    "America",
    "Antarctica",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
}


class ProfileForm(forms.ModelForm):
    language = forms.ChoiceField(label=_("Language"), required=False, choices=language_choices)
    # The zones' names are identifiers (Asia/Seoul), the same in every language.
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        required=False,
        choices=time_zone_choices,
        widget=forms.Select(attrs={"translate": "no"}),
    )

    def __init__(self, *args, browser_language=None, browser_zone=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = language_choices(browser_language)
        self.fields["time_zone"].choices = time_zone_choices(browser_zone)

    class Meta:
        model = MemberProfile
        fields = ["display_name", "language", "time_zone"]
        help_texts = {"display_name": _("How teammates see you. Empty: your username.")}


class InviteForm(forms.Form):
    addresses = forms.CharField(
        label=_("E-mail addresses"),
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "ana@example.com\nbo@example.com"}),
        help_text=_("One per line, or separated by commas or spaces."),
    )
    role = forms.ChoiceField(
        label=_("They join as"),
        choices=INVITABLE_ROLES,
        initial="member",
    )

    def clean_addresses(self):
        addresses = members.split_addresses(self.cleaned_data["addresses"])
        wrong = []
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                wrong.append(address)
        if wrong:
            raise ValidationError(
                _("Not e-mail addresses: %(wrong)s"), params={"wrong": ", ".join(wrong[:20])}
            )
        if not addresses:
            raise ValidationError(_("Enter at least one address."))
        if len(addresses) > settings.BANANA_INVITATIONS_AT_ONCE:
            raise ValidationError(
                _("At most %(max)d addresses at once."),
                params={"max": settings.BANANA_INVITATIONS_AT_ONCE},
            )
        return addresses
