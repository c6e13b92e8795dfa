"""Validation, re-encoding, display variants and thumbnails for images (Pillow).

No Django imports: messages on :class:`ImageRejected` are plain English, safe to show a user;
the caller translates them if needed (its `template` is marked for makemessages, its
`params` are filled in after).

Every image is fully decoded and re-encoded, so what gets stored is pixels only: no EXIF, ICC,
XMP or text chunks survive, and polyglot/trailing data is dropped.
"""

import io
import warnings
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps

__all__ = [
    "ALLOWED_FORMATS",
    "ImageRejected",
    "ProcessedImage",
    "convert",
    "make_display",
    "process_image",
    "validate_upload",
]

ALLOWED_FORMATS = frozenset({"PNG", "JPEG", "WEBP"})

_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
_CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_DISPLAY_NAMES = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP"}
# Pillow reports some real-world JPEGs (multi-picture files from phones) as MPO.
_FORMAT_ALIASES = {"MPO": "JPEG"}
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_HIGH_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})

JPEG_QUALITY = 90
WEBP_QUALITY = 90
THUMB_QUALITY = 80
DISPLAY_QUALITY = 85
# libwebp's effort (0-6; Pillow's default is 4). At 2 a 1600-px display variant takes a
# quarter of the time for about 4 % more bytes: the worker's share of a burst of results.
WEBP_METHOD = 2


def gettext_noop(message: str) -> str:
    """Marks a message for makemessages (which knows this name) without importing Django."""
    return message


class ImageRejected(Exception):
    """The image is unacceptable; the message is safe to show a user. `template` and
    `params` are for a caller that shows it in another language: `formats` is a list of
    format names, `pixels` a number."""

    def __init__(self, template: str, **params: Any):
        shown = dict(params)
        if "formats" in shown:
            shown["formats"] = _alternatives(shown["formats"])
        if "pixels" in shown:
            shown["pixels"] = f"{shown['pixels']:,}"
        self.template, self.params = template, params
        self.message = template % shown if params else template
        super().__init__(self.message)


def _alternatives(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


@dataclass(frozen=True)
class ProcessedImage:
    content: bytes  # re-encoded, metadata stripped
    format: str  # "PNG" | "JPEG" | "WEBP"
    extension: str  # "png" | "jpg" | "webp"
    content_type: str
    width: int
    height: int
    thumbnail: bytes  # WEBP, long side <= thumb_size
    thumbnail_width: int
    thumbnail_height: int
    # WEBP, long side <= display_size; only when process_image was asked for one.
    display: bytes | None = None
    display_width: int | None = None
    display_height: int | None = None


def _not_an_image(allowed_formats: Collection[str]) -> ImageRejected:
    order = list(_DISPLAY_NAMES)  # PNG, JPEG, WEBP first, in that order
    ranked = sorted(allowed_formats, key=lambda f: (order.index(f) if f in order else 99, f))
    names = [_DISPLAY_NAMES.get(f, f) for f in ranked]
    if not names:
        return ImageRejected(gettext_noop("The file is not a supported image."))
    return ImageRejected(gettext_noop("The file is not a %(formats)s image."), formats=names)


def _open(data: bytes, formats: list[str]) -> Image.Image:
    return Image.open(io.BytesIO(data), formats=formats)


def _decode(
    data: bytes, max_pixels: int, allowed_formats: Collection[str]
) -> tuple[Image.Image, str]:
    """Fully decode ``data``; return the loaded image and its canonical format name."""
    not_image = _not_an_image(allowed_formats)
    if not data:
        raise ImageRejected(gettext_noop("The file is empty."))
    formats = sorted(set(allowed_formats) & set(_EXTENSIONS))
    if not formats:
        raise not_image
    too_big = ImageRejected(
        gettext_noop("The image is too large (more than %(pixels)s pixels)."), pixels=max_pixels
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            # Pass 1: header + structural verification (verify() invalidates the image).
            with _open(data, formats) as probe:
                fmt = _FORMAT_ALIASES.get(probe.format or "", probe.format or "")
                if fmt not in formats:
                    raise not_image
                width, height = probe.size
                if width <= 0 or height <= 0:
                    raise not_image
                if width * height > max_pixels:
                    raise too_big
                probe.verify()
            # Pass 2: the real decode.
            img = _open(data, formats)
            if img.size != (width, height):
                raise not_image
            img.load()
        except ImageRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise too_big from None
        except Image.UnidentifiedImageError:
            raise not_image from None
        except Exception:  # truncated, corrupt, unsupported sub-format: all untrusted input
            raise ImageRejected(gettext_noop("The image file is damaged or incomplete.")) from None
    return img, fmt


def _orient(img: Image.Image) -> Image.Image:
    try:
        oriented = ImageOps.exif_transpose(img)
    except Exception:  # broken EXIF must not reject an otherwise fine image
        return img
    return oriented if oriented is not None else img


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in _ALPHA_MODES or "transparency" in img.info


def _to_8bit(img: Image.Image) -> Image.Image:
    if img.mode in _HIGH_BIT_MODES:
        # 16-bit / float greyscale: scale to 8 bits rather than clipping.
        return img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    return img


def _normalise(img: Image.Image, fmt: str) -> Image.Image:
    """Convert to a mode the target format stores well; the result has empty ``info``."""
    img = _to_8bit(img)
    if fmt == "JPEG":
        out = img if img.mode in ("L", "RGB") else img.convert("RGB")  # CMYK, YCbCr, 1, ...
    elif fmt == "PNG":
        if img.mode in ("1", "L", "P", "RGB", "RGBA", "LA") and "transparency" not in img.info:
            out = img  # P without transparency stays paletted (smaller, lossless)
        else:
            out = img.convert("RGBA" if _has_alpha(img) else "RGB")
    else:  # WEBP stores RGB or RGBA only
        if img.mode in ("RGB", "RGBA") and "transparency" not in img.info:
            out = img
        else:
            out = img.convert("RGBA" if _has_alpha(img) else "RGB")
    if out is img:
        out = img.copy()
    out.info = {}  # drop EXIF, ICC, XMP, text chunks, dpi, ...
    return out


def _encode(img: Image.Image, fmt: str, quality: int | None = None) -> bytes:
    buf = io.BytesIO()
    if fmt == "PNG":
        img.save(buf, "PNG", optimize=False)
    elif fmt == "JPEG":
        img.save(buf, "JPEG", quality=quality or JPEG_QUALITY, optimize=False)
    else:
        img.save(
            buf, "WEBP", quality=WEBP_QUALITY if quality is None else quality, method=WEBP_METHOD
        )
    return buf.getvalue()


def _scaled_webp(img: Image.Image, long_side: int, quality: int) -> tuple[bytes, int, int]:
    """``img`` as WEBP with its long side at most ``long_side`` (never enlarged)."""
    mode = "RGBA" if _has_alpha(img) else "RGB"
    scaled = img.convert(mode) if img.mode != mode else img.copy()
    scaled.thumbnail((long_side, long_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    scaled.info = {}
    buf = io.BytesIO()
    scaled.save(buf, "WEBP", quality=quality, method=WEBP_METHOD)
    return buf.getvalue(), scaled.width, scaled.height


def _thumbnail(img: Image.Image, thumb_size: int) -> tuple[bytes, int, int]:
    return _scaled_webp(img, thumb_size, THUMB_QUALITY)


def process_image(
    data: bytes,
    *,
    max_pixels: int = 40_000_000,
    thumb_size: int = 384,
    display_size: int | None = None,
    allowed_formats: Collection[str] = ALLOWED_FORMATS,
) -> ProcessedImage:
    """Decode, validate and re-encode ``data``; raise :class:`ImageRejected` if unacceptable.

    The output keeps the input format (PNG/JPEG/WEBP), applies EXIF orientation and carries no
    metadata. The thumbnail is WEBP with its long side at most ``thumb_size``; given a
    ``display_size``, so is a display variant, made from the same decoded pixels.
    """
    if thumb_size < 1 or (display_size is not None and display_size < 1):
        raise ValueError("thumb_size and display_size must be positive")
    img, fmt = _decode(bytes(data), max_pixels, allowed_formats)
    display: tuple[bytes | None, int | None, int | None] = (None, None, None)
    try:
        oriented = _orient(img)
        clean = _normalise(oriented, fmt)
        content = _encode(clean, fmt)
        thumbnail, thumb_w, thumb_h = _thumbnail(clean, thumb_size)
        if display_size is not None:
            display = _scaled_webp(clean, display_size, DISPLAY_QUALITY)
    except ImageRejected:
        raise
    except Exception:
        raise ImageRejected(gettext_noop("The image could not be processed.")) from None
    finally:
        img.close()
    return ProcessedImage(
        content=content,
        format=fmt,
        extension=_EXTENSIONS[fmt],
        content_type=_CONTENT_TYPES[fmt],
        width=clean.width,
        height=clean.height,
        thumbnail=thumbnail,
        thumbnail_width=thumb_w,
        thumbnail_height=thumb_h,
        display=display[0],
        display_width=display[1],
        display_height=display[2],
    )


def make_display(
    data: bytes, *, display_size: int, max_pixels: int = 40_000_000
) -> tuple[bytes, int, int]:
    """The display variant (WEBP, long side at most ``display_size``) of an image we stored
    before display variants existed: (bytes, width, height). Raises ImageRejected."""
    if display_size < 1:
        raise ValueError("display_size must be positive")
    img, fmt = _decode(bytes(data), max_pixels, ALLOWED_FORMATS)
    try:
        return _scaled_webp(_normalise(_orient(img), fmt), display_size, DISPLAY_QUALITY)
    except Exception:
        raise ImageRejected(gettext_noop("The image could not be processed.")) from None
    finally:
        img.close()


def validate_upload(data: bytes, *, max_bytes: int, max_pixels: int = 40_000_000) -> ProcessedImage:
    """Check a user-uploaded reference image: size first, then full decode/re-encode."""
    if not data:
        raise ImageRejected(gettext_noop("The file is empty."))
    if len(data) > max_bytes:
        limit = max_bytes / (1024 * 1024)
        shown = f"{limit:.0f} MB" if limit >= 1 else f"{max_bytes // 1024} KB"
        raise ImageRejected(
            gettext_noop("The file is too large (the limit is %(limit)s)."), limit=shown
        )
    return process_image(data, max_pixels=max_pixels)


def convert(
    data: bytes, fmt: str, *, quality: int | None = None, max_pixels: int = 40_000_000
) -> bytes:
    """An image of ours as PNG, JPEG or WEBP (`fmt`), at `quality` (0-100, JPEG and WEBP;
    default that of our own encodings). Already in that format, with no quality asked: the
    same bytes. Raises ImageRejected."""
    fmt = fmt.upper()
    if fmt not in _EXTENSIONS:
        raise ValueError(f"unsupported format {fmt}")
    img, current = _decode(bytes(data), max_pixels, ALLOWED_FORMATS)
    try:
        if current == fmt and quality is None:
            return bytes(data)
        return _encode(_normalise(_orient(img), fmt), fmt, quality)
    except Exception:
        raise ImageRejected(gettext_noop("The image could not be processed.")) from None
    finally:
        img.close()


def content_type_of(fmt: str) -> str:
    """The content type of PNG, JPEG or WEBP."""
    return _CONTENT_TYPES[fmt.upper()]
