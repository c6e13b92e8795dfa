"""The library's and the presets' forms (issue 20): adding an asset, saving an image of
ours to the library, making or changing a style preset."""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from generations import catalogue, library, presets, upstream
from generations.forms import rejection_text
from generations.images import ImageRejected
from generations.models import LibraryAsset, StylePreset
from generations.models.library import Visibility


class AssetFieldsMixin(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    tags = forms.CharField(
        label=_("Tags"),
        max_length=300,
        required=False,
        help_text=_("Words separated by spaces or commas, e.g. logo product mascot."),
    )
    visibility = forms.ChoiceField(
        label=_("Visible to"), choices=Visibility.choices, initial=Visibility.TEAM
    )


class AssetUploadForm(AssetFieldsMixin):
    image = forms.FileField(label=_("Image"))
    field_order = ["image", "name", "tags", "visibility"]

    def clean_image(self):
        upload = self.cleaned_data["image"]
        # Sized before it is decoded, as the composer's references are.
        if upload.size > settings.BANANA_UPLOAD_MAX_BYTES:
            raise ValidationError(
                _("“%(name)s” is larger than %(limit)s MB."),
                params={
                    "name": upload.name,
                    "limit": settings.BANANA_UPLOAD_MAX_BYTES // (1024 * 1024),
                },
            )
        try:
            return library.check_image(upload.read())
        except ImageRejected as exc:
            raise ValidationError(
                _("“%(name)s”: %(reason)s"),
                params={"name": upload.name, "reason": rejection_text(exc)},
            ) from None


class SaveToLibraryForm(AssetFieldsMixin):
    """An image of ours: a result or a reference of a generation, named by its position."""

    generation = forms.UUIDField(widget=forms.HiddenInput)
    position = forms.IntegerField(min_value=0, widget=forms.HiddenInput)
    kind = forms.ChoiceField(
        choices=[("result", "result"), ("reference", "reference")], widget=forms.HiddenInput
    )


class LibrarySearchForm(forms.Form):
    q = forms.CharField(label=_("Search by name or tag"), required=False, max_length=200)


def _choices(values):
    return [("", _("No default"))] + [(value, value) for value in values]


class PresetForm(forms.ModelForm):
    assets = forms.ModelMultipleChoiceField(
        label=_("References from the library"),
        queryset=LibraryAsset.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = StylePreset
        fields = ["name", "template", "scope", "model", "aspect_ratio", "image_size", "count"]
        widgets = {"template": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        models = catalogue.model_options()
        self.fields["model"] = forms.ChoiceField(
            label=_("Model"),
            required=False,
            choices=[("", _("No default"))] + [(m.id, m.label) for m in models],
        )
        self.fields["aspect_ratio"] = forms.ChoiceField(
            label=_("Aspect ratio"), required=False, choices=_choices(upstream.ASPECT_RATIOS)
        )
        self.fields["image_size"] = forms.ChoiceField(
            label=_("Image size"), required=False, choices=_choices(upstream.IMAGE_SIZES)
        )
        self.fields["count"] = forms.TypedChoiceField(
            label=_("Images"),
            required=False,
            coerce=int,
            empty_value=None,
            choices=_choices(catalogue.IMAGE_COUNTS),
        )
        self.fields["assets"].queryset = LibraryAsset.objects.usable_by(user)
        if self.instance.pk:
            self.initial["assets"] = list(self.instance.assets.values_list("pk", flat=True))
        if not presets.may_make_team_presets(user):
            self.fields["scope"].choices = [
                c for c in StylePreset.Scope.choices if c[0] == StylePreset.Scope.PERSONAL
            ]

    def clean_name(self):
        return self.cleaned_data["name"].strip()

    def clean_assets(self):
        assets = self.cleaned_data["assets"]
        if len(assets) > upstream.MAX_REFERENCE_IMAGES:
            raise ValidationError(
                _("At most %(max)d references."), params={"max": upstream.MAX_REFERENCE_IMAGES}
            )
        return assets
