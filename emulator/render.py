"""Draw the fake generation result: a PNG that visibly reflects the request."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import logging
import textwrap
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable

from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger("emulator")

FETCH_TIMEOUT = 5.0
MAX_REFERENCE_BYTES = 10 * 1024 * 1024
# Long side in pixels per image_size; deliberately small so tests stay fast.
LONG_SIDE = {"1k": 512, "2k": 768, "4k": 1024}


def image_dimensions(aspect_ratio: str | None, image_size: str | None) -> tuple[int, int]:
    """Pixel size for an aspect ratio ("16:9") and image size ("1k"): 1:1 at 1k is 512x512."""
    long_side = LONG_SIDE.get((image_size or "1k").lower(), 512)
    if not aspect_ratio or aspect_ratio == "auto":
        return long_side, long_side
    w, h = (int(part) for part in aspect_ratio.split(":"))
    if w >= h:
        return long_side, max(1, round(long_side * h / w))
    return max(1, round(long_side * w / h)), long_side


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # old Pillow or no FreeType
        return ImageFont.load_default()


def _colour_for(prompt: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    return digest[0], digest[1], digest[2]


def _ink_for(bg: tuple[int, int, int]) -> tuple[int, int, int]:
    luminance = 0.299 * bg[0] + 0.587 * bg[1] + 0.114 * bg[2]
    return (0, 0, 0) if luminance > 140 else (255, 255, 255)


def host_allowed(url: str, allowed_hosts: Iterable[str]) -> bool:
    try:
        host = (urllib.parse.urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return bool(host) and host in {h.lower().strip("[]") for h in allowed_hosts}


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to allowed hosts (never leave the machine)."""

    def __init__(self, allowed_hosts: Iterable[str]):
        self.allowed_hosts = tuple(allowed_hosts)

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not host_allowed(newurl, self.allowed_hosts):
            raise urllib.error.HTTPError(newurl, code, "redirect to disallowed host", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def local_opener(allowed_hosts: Iterable[str]) -> urllib.request.OpenerDirector:
    """An opener that ignores proxy environment variables and refuses off-list redirects."""
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), _SafeRedirects(allowed_hosts)
    )


def _decode_data_uri(uri: str) -> bytes:
    header, _, payload = uri.partition(",")
    if len(payload) > MAX_REFERENCE_BYTES * 4 // 3 + 4:
        raise ValueError("data URI too large")
    if header.endswith(";base64"):
        return base64.b64decode(payload, validate=False)
    return urllib.parse.unquote_to_bytes(payload)


def _fetch(url: str, allowed_hosts: Iterable[str]) -> bytes:
    opener = local_opener(allowed_hosts)
    req = urllib.request.Request(url, headers={"User-Agent": "banana-emulator/1"})
    with opener.open(req, timeout=FETCH_TIMEOUT) as resp:
        data = resp.read(MAX_REFERENCE_BYTES + 1)
    if len(data) > MAX_REFERENCE_BYTES:
        raise ValueError("reference larger than 10 MB")
    return data


def load_reference(ref: str, allowed_hosts: Iterable[str]) -> tuple[Image.Image | None, str]:
    """Return (image or None, label). Never raises."""
    try:
        if ref.startswith("data:"):
            label = "data: URI"
            raw = _decode_data_uri(ref)
        else:
            host = urllib.parse.urlsplit(ref).hostname or "?"
            label = host
            if not host_allowed(ref, allowed_hosts):
                log.info("reference on %s not fetched (host not in callback_hosts)", host)
                return None, host
            raw = _fetch(ref, allowed_hosts)
        img = Image.open(io.BytesIO(raw))
        img.draft("RGB", (256, 256))
        img = img.convert("RGB")
        img.thumbnail((256, 256))
        return img, label
    except (OSError, ValueError, binascii.Error, Image.DecompressionBombError) as exc:
        log.info("reference could not be loaded: %s", exc)
        return None, "unreadable"
    except Exception as exc:  # a reference must never break the task
        log.warning("reference failed unexpectedly: %r", exc)
        return None, "unreadable"


def render_png(
    *,
    prompt: str,
    model: str,
    aspect_ratio: str | None,
    image_size: str | None,
    references: list[str],
    allowed_hosts: Iterable[str],
    task_id: str = "",
) -> bytes:
    width, height = image_dimensions(aspect_ratio, image_size)
    bg = _colour_for(prompt)
    ink = _ink_for(bg)
    img = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(img)

    small_size = max(10, height // 40)
    small = _font(small_size)
    body_size = max(12, min(width, height) // 16)
    body = _font(body_size)
    margin = max(6, width // 40)

    header = f"{model}  {aspect_ratio or '1:1'}  {(image_size or '1k').lower()}"
    draw.text((margin, margin), header, fill=ink, font=small)
    if task_id:
        draw.text((margin, height - margin - small_size), task_id, fill=ink, font=small)

    strip_h = height // 4 if references else 0
    chars_per_line = max(8, int((width - 2 * margin) / (body_size * 0.55)))
    lines = textwrap.wrap(prompt, width=chars_per_line) or [""]
    y = margin * 2 + small_size
    max_y = height - strip_h - margin * 2 - small_size
    for line in lines:
        if y + body_size > max_y:
            draw.text((margin, y), "...", fill=ink, font=body)
            break
        draw.text((margin, y), line, fill=ink, font=body)
        y += int(body_size * 1.25)

    if references:
        slot_w = (width - margin * (len(references) + 1)) // len(references)
        slot_h = strip_h - margin
        top = height - strip_h - margin - small_size
        for i, ref in enumerate(references):
            left = margin + i * (slot_w + margin)
            thumb, label = load_reference(ref, allowed_hosts)
            box = (left, top, left + slot_w, top + slot_h)
            if thumb is None:
                draw.rectangle(box, fill=(150, 150, 150), outline=(90, 90, 90), width=2)
                draw.text((left + 4, top + 4), label[:30], fill=(20, 20, 20), font=small)
            else:
                thumb.thumbnail((max(1, slot_w), max(1, slot_h)))
                img.paste(thumb, (left, top))
                draw.rectangle(box, outline=ink, width=1)

    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()
