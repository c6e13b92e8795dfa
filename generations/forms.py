import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _

from generations import catalogue, presets, sharing, upstream
from generations.accounts import members
from generations.credits import lowest_prices, price_of_job
from generations.fetch import FetchError, check_url
from generations.images import ImageRejected, validate_upload
from generations.models import Collection, Generation, ReferenceImage, StylePreset
from generations.rendering.forms import KeptSelect
from generations.services import ReferenceInput, reference_url_policy
from generations.templatetags.credit_tags import credits_label

REFERENCE_URL_MAX_LENGTH = ReferenceImage._meta.get_field("source_url").max_length


def rejection_text(exc: ImageRejected) -> str:
    """Why an image was refused, in the page's language (generations.images marks the
    messages; their figures and lists are written here)."""
    params: dict[str, Any] = dict(exc.params)
    if "formats" in params:
        names = list(params["formats"])
        params["formats"] = (
            pgettext("a list of alternatives", "%(first)s or %(last)s")
            % {"first": ", ".join(names[:-1]), "last": names[-1]}
            if len(names) > 1
            else names[0]
        )
    if "pixels" in params:
        params["pixels"] = number_format(params["pixels"], force_grouping=True)
    return gettext(exc.template) % params if params else gettext(exc.template)


@dataclass(frozen=True)
class InheritedReference:
    """A reference the new generation takes from another one: "remix" (one of the
    original's, by position) or "from" (the image chosen with "use as reference")."""

    kind: str
    position: int
    thumbnail: str  # the image's URL on this site; "" for a reference given by URL
    source_url: str


def _uuid_or_none(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(MultipleImageField, self).clean(f, initial) for f in files]


class ModelSelect(KeptSelect):
    """The model picker; each option says which sizes and aspect ratios that model takes, so
    the form offers only those (studio.js) without asking the server, and what the model is
    good for with its lowest price (the hint under the picker)."""

    hints: dict[str, str] = {}

    def render(self, name, value, attrs=None, renderer=None):
        # Asked when drawn, not when the form is built: a submit draws no picker.
        options = [m for m in (catalogue.get_model_option(str(v)) for v, _ in self.choices) if m]
        self.hints = model_hints(options)
        return super().render(name, value, attrs, renderer)

    def kept_key(self):
        return tuple(sorted(self.hints.items()))

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        model = catalogue.get_model_option(str(value))
        if model is not None:
            option["attrs"]["data-sizes"] = " ".join(model.sizes)
            option["attrs"]["data-ratios"] = " ".join(model.aspect_ratios)
            option["attrs"]["data-hint"] = self.hints.get(model.id, "")
        return option


def model_hints(options: list[catalogue.ModelOption]) -> dict[str, str]:
    """Each model's hint for the composer: what it is good for and its lowest price."""
    lowest = lowest_prices(options)
    hints = {}
    for option in options:
        price = gettext("from %(price)s") % {"price": credits_label(lowest[option.id])}
        hint = catalogue.hint_of(option)
        hints[option.id] = f"{hint} · {price}" if hint else price
    return hints


class GenerationForm(forms.Form):
    prompt = forms.CharField(
        label=_("Prompt"),
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": _("Describe the image you want")}),
    )
    model = forms.ChoiceField(label=_("Model"), widget=ModelSelect)
    aspect_ratio = forms.ChoiceField(label=_("Aspect ratio"), required=False, widget=KeptSelect)
    image_size = forms.ChoiceField(
        label=_("Image size"),
        required=False,
        widget=KeptSelect,
        choices=[("", _("Default")), *((size, size.upper()) for size in upstream.IMAGE_SIZES)],
    )
    count = forms.TypedChoiceField(
        label=_("Images"),
        coerce=int,
        required=False,
        empty_value=None,
        initial=1,
        choices=[(n, str(n)) for n in catalogue.IMAGE_COUNTS],
        widget=KeptSelect,
        help_text=_("Each image is its own run, at its own price."),
    )
    reference_files = MultipleImageField(
        label=_("Reference images"),
        required=False,
        widget=MultipleFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    reference_urls = forms.CharField(
        label=_("Reference image URLs"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "https://…"}),
    )
    visibility = forms.ChoiceField(
        label=_("Visible to"),
        required=False,
        choices=Generation.Visibility.choices,
        widget=KeptSelect,
    )
    # Set by "remix" and "use as reference". Only ids travel: the server copies the images
    # after checking that this member may see them.
    remix_of = forms.UUIDField(required=False, widget=forms.HiddenInput)
    reference_from = forms.UUIDField(required=False, widget=forms.HiddenInput)
    reference_position = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    # The positions of the remixed generation's references the member removed in the composer.
    remix_drop = forms.TypedMultipleChoiceField(
        required=False,
        coerce=int,
        choices=[(n, str(n)) for n in range(upstream.MAX_REFERENCE_IMAGES)],
        widget=forms.MultipleHiddenInput,
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        # The models this member may use (members.allowed_models, which create_generation
        # enforces too); without a member, every model on offer.
        self.options = members.allowed_models(user) if user else catalogue.model_options()
        self.fields["visibility"].initial = settings.BANANA_DEFAULT_VISIBILITY
        self.fields["reference_urls"].help_text = gettext(
            "One per line. At most %(max)d references in all."
        ) % {"max": upstream.MAX_REFERENCE_IMAGES}
        self.fields["prompt"].max_length = settings.BANANA_PROMPT_MAX_LENGTH
        self.fields["prompt"].widget.attrs["maxlength"] = settings.BANANA_PROMPT_MAX_LENGTH
        self.fields["model"].choices = [(m.id, m.label) for m in self.options]
        if self.options and self.initial.get("model") not in {m.id for m in self.options}:
            self.initial["model"] = self.options[0].id
        self.fields["aspect_ratio"].choices = [("", _("Default"))] + [
            (r, r) for r in upstream.ASPECT_RATIOS
        ]

    # The limits the composer checks as references are added, the same the server applies.
    max_references = upstream.MAX_REFERENCE_IMAGES

    @property
    def upload_max_bytes(self):
        return settings.BANANA_UPLOAD_MAX_BYTES

    @property
    def reference_max_pixels(self):
        return settings.BANANA_REFERENCE_MAX_PIXELS

    @classmethod
    def with_choices_of(cls, generation, user=None, **initial):
        """An unbound form with a generation's model, ratio, size and visibility."""
        return cls(
            user=user,
            initial={
                "model": generation.model,
                "aspect_ratio": generation.aspect_ratio,
                "image_size": generation.image_size,
                "visibility": generation.visibility,
                **initial,
            },
        )

    def clean_count(self):
        return self.cleaned_data["count"] or 1

    def clean_prompt(self):
        prompt = self.cleaned_data["prompt"].strip()
        if not prompt:
            raise ValidationError(_("Write a prompt."))
        return prompt

    def clean_visibility(self):
        return self.cleaned_data["visibility"] or settings.BANANA_DEFAULT_VISIBILITY

    def clean_reference_urls(self):
        lines = [line.strip() for line in self.cleaned_data["reference_urls"].splitlines()]
        urls = [line for line in lines if line]
        validate = URLValidator(schemes=["http", "https"])
        for url in urls:
            try:
                validate(url)
            except ValidationError:
                raise ValidationError(
                    _("“%(url)s” is not an http(s) URL."), params={"url": url[:100]}
                ) from None
            if urlsplit(url).username:
                raise ValidationError(_("URLs with a user name or password are not allowed."))
            try:
                check_url(url, reference_url_policy())
            except FetchError:
                raise ValidationError(
                    _("“%(url)s” cannot be used: it does not point at a public web address."),
                    params={"url": url[:100]},
                ) from None
            if len(url) > REFERENCE_URL_MAX_LENGTH:
                raise ValidationError(
                    _("A reference URL may be at most %(max)d characters long."),
                    params={"max": REFERENCE_URL_MAX_LENGTH},
                )
        return urls

    def clean_reference_files(self):
        uploads = self.cleaned_data["reference_files"]
        # Counted and sized before any is decoded: decoding is what costs memory and time.
        urls = [line for line in self.data.get("reference_urls", "").splitlines() if line.strip()]
        count = len(uploads) + len(urls)
        if count > upstream.MAX_REFERENCE_IMAGES:
            raise ValidationError(self.too_many_references(count))
        for upload in uploads:
            if upload.size > settings.BANANA_UPLOAD_MAX_BYTES:
                raise ValidationError(
                    _("“%(name)s” is larger than %(limit)s MB."),
                    params={
                        "name": upload.name,
                        "limit": settings.BANANA_UPLOAD_MAX_BYTES // (1024 * 1024),
                    },
                )
        cleaned = []
        for upload in uploads:
            try:
                processed = validate_upload(
                    upload.read(),
                    max_bytes=settings.BANANA_UPLOAD_MAX_BYTES,
                    max_pixels=settings.BANANA_REFERENCE_MAX_PIXELS,
                )
            except ImageRejected as exc:
                raise ValidationError(
                    _("“%(name)s”: %(reason)s"),
                    params={"name": upload.name, "reason": rejection_text(exc)},
                ) from None
            cleaned.append(processed)
        return cleaned

    @staticmethod
    def too_many_references(count):
        return ngettext(
            "At most %(max)d reference image; you gave %(count)d.",
            "At most %(max)d reference images; you gave %(count)d.",
            upstream.MAX_REFERENCE_IMAGES,
        ) % {"max": upstream.MAX_REFERENCE_IMAGES, "count": count}

    def clean(self):
        data = super().clean()
        option = next((m for m in self.options if m.id == data.get("model")), None)
        offered = catalogue.get_model_option(data.get("model"))
        size = data.get("image_size")
        if option and offered and size and size not in option.sizes:
            if size in offered.sizes:
                self.add_error(
                    "image_size",
                    gettext("You may not use %(size)s with this model. Ask an admin for access.")
                    % {"size": size.upper()},
                )
            else:
                self.add_error("image_size", _("This model does not take an image size."))
        ratio = data.get("aspect_ratio")
        if option and ratio and ratio not in option.aspect_ratios:
            self.add_error("aspect_ratio", _("This model does not take this aspect ratio."))
        count = len(data.get("reference_files") or []) + len(data.get("reference_urls") or [])
        if count > upstream.MAX_REFERENCE_IMAGES and "reference_files" not in self.errors:
            self.add_error("reference_files", self.too_many_references(count))
        return data

    def price_preview(self):
        """The price of the chosen model, size and number of images, shown before
        submitting: what the holds will take."""
        data = self.data if self.is_bound else self.initial
        return price_of_job(data.get("model") or "", data.get("image_size"), data.get("count"))

    def inherited(self) -> list[InheritedReference]:
        """The references a remix or "use as reference" brings along (read from what this
        member may see), as the composer shows them: each one visible and removable."""
        if self.user is None:
            return []
        value = self.data.get if self.is_bound else self.initial.get
        visible = Generation.objects.visible_to(self.user)
        shown: list[InheritedReference] = []
        remix_of = _uuid_or_none(value("remix_of"))
        if remix_of:
            dropped = set(
                self.data.getlist("remix_drop")
                if self.is_bound and hasattr(self.data, "getlist")
                else []
            )
            for ref in ReferenceImage.objects.filter(
                generation__in=visible, generation_id=remix_of
            ).order_by("position"):
                if str(ref.position) in dropped:
                    continue
                thumbnail = (
                    reverse("reference_image", args=[remix_of, ref.position]) if ref.file else ""
                )
                shown.append(InheritedReference("remix", ref.position, thumbnail, ref.source_url))
        reference_from = _uuid_or_none(value("reference_from"))
        if reference_from and visible.filter(pk=reference_from).exists():
            position = value("reference_position") or 0
            thumbnail = reverse("result_thumbnail", args=[reference_from, position])
            shown.append(InheritedReference("from", int(position), thumbnail, ""))
        return shown

    def references(self):
        refs = [
            ReferenceInput(
                content=p.content,
                extension=p.extension,
                content_type=p.content_type,
                width=p.width,
                height=p.height,
            )
            for p in self.cleaned_data["reference_files"]
        ]
        refs += [ReferenceInput(url=url) for url in self.cleaned_data["reference_urls"]]
        return refs


class EditForm(GenerationForm):
    """A follow-up prompt on a finished image (generations/threads.py): the image comes
    first, the member may add references of their own; the rest is the image's."""

    position = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    # A style preset wraps the follow-up prompt as in the composer (generations/presets.py);
    # the version keeps the image's model, ratio and size, not the preset's defaults.
    preset = forms.ModelChoiceField(
        label=_("Style preset"),
        required=False,
        queryset=StylePreset.objects.none(),
        empty_label=_("None"),
    )

    KEPT = ("prompt", "reference_files", "reference_urls", "position", "preset")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in list(self.fields):
            if name not in self.KEPT:
                del self.fields[name]
        if self.user is not None and self.user.is_authenticated:
            self.fields["preset"].queryset = presets.usable(self.user).order_by("name", "pk")
        else:
            del self.fields["preset"]
        self.fields["prompt"].label = _("What should change?")
        self.fields["prompt"].widget.attrs.update(rows=2, placeholder=_("e.g. make the sky purple"))
        self.fields["reference_files"].help_text = gettext(
            "At most %(more)d: the image is the first of the %(max)d references."
        ) % {"more": upstream.MAX_REFERENCE_IMAGES - 1, "max": upstream.MAX_REFERENCE_IMAGES}

    def clean_position(self):
        return self.cleaned_data["position"] or 0


class GalleryFilterForm(forms.Form):
    q = forms.CharField(label=_("Search prompts"), required=False, max_length=200)
    member = forms.ModelChoiceField(
        label=_("Member"),
        required=False,
        queryset=get_user_model().objects.none(),
        empty_label=_("Any"),
    )
    model = forms.ChoiceField(label=_("Model"), required=False, widget=KeptSelect)
    status = forms.ChoiceField(label=_("Status"), required=False, widget=KeptSelect)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    favourites = forms.BooleanField(label=_("Favourites only"), required=False)
    # Edit threads: each thread shown as its newest version only.
    newest_versions = forms.BooleanField(label=_("Newest version of each thread"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Who to pick, by name; their names are all the select shows.
        self.fields["member"].queryset = (
            get_user_model()
            .objects.filter(is_active=True)
            .only("pk", "username")
            .order_by("username")
        )
        self.fields["member"].label_from_instance = lambda u: u.get_username()
        self.fields["model"].choices = [("", _("Any"))] + [
            (m.id, m.label) for m in catalogue.model_options()
        ]
        self.fields["status"].choices = [("", _("Any")), *Generation.Status.choices]


class CollectionForm(forms.ModelForm):
    class Meta:
        model = Collection
        fields = ["name", "visibility"]


class ShareForm(forms.Form):
    generation = forms.UUIDField(required=False, widget=forms.HiddenInput)
    collection = forms.UUIDField(required=False, widget=forms.HiddenInput)
    expires_in = forms.ChoiceField(
        label=_("Expires"), required=False, choices=sharing.lifetime_choices
    )
    show_prompts = forms.BooleanField(label=_("Show prompts"), required=False)
    show_author = forms.BooleanField(label=_("Show who made them"), required=False)
    whole_thread = forms.BooleanField(label=_("Share the versions that led to it"), required=False)
    allow_download = forms.BooleanField(label=_("Allow downloads"), required=False)

    def clean(self):
        data = super().clean()
        if bool(data.get("generation")) == bool(data.get("collection")):
            raise ValidationError(gettext("Share one image or one collection."))
        return data


class ApiKeyForm(forms.Form):
    """A new personal API key: its name and optional limits of its own."""

    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What will use it, e.g. “n8n” or “my notebook”."),
    )
    monthly_budget = forms.DecimalField(
        label=_("Monthly budget (credits)"),
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=6,
        help_text=_("Empty: no budget of its own; your credits and limits apply as always."),
    )
    allowed_models = forms.MultipleChoiceField(
        label=_("Allowed models"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every model on offer."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["allowed_models"].choices = [(m.id, m.label) for m in catalogue.model_options()]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError(_("Give the key a name."))
        return name
