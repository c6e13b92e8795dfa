"""Reading the body of a keyed API request within a bound: streamed to a temporary file
(never held whole), parsed as a stream of JSON events with a nesting limit, and with the
long strings of reference images (`images[]`, usually base64 `data:` URIs of several MB)
written to files of their own as they are met, so that each is decoded later, one at a
time. A request's memory then stays near its largest single image, however many it sends.

The files live in a `Workspace`, a temporary folder removed when the request is done with
them (after the submit, before any waiting).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import ijson

CHUNK = 256 * 1024  # a multiple of 4: base64 decodes chunk by chunk
IN_MEMORY = 1024 * 1024  # bodies up to this size never touch the disk
MAX_DEPTH = 32  # our bodies nest two levels; deeper is malformed, not a RecursionError
SPILL_AT = 64 * 1024  # an images[] string longer than this goes to a file as it is read
SPILLED_PREFIX = 256  # what of a spilled string stays in the parsed body (its header)
_DATA_HEADER = re.compile(r"data:([^,]{0,200}),", re.IGNORECASE)
# yajl's backend keeps one string at a time (the pure-Python one holds every string it has
# read until the end); basic events carry no path, whose cost would grow with the nesting.
PARSER = ijson.get_backend("yajl2_c")


class BodyTooLarge(Exception):
    pass


class MalformedBody(Exception):
    """Not JSON, or nested deeper than any request of ours."""


class Workspace:
    """A request's temporary folder: spilled strings, decoded and re-encoded images."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._count = 0

    def new_file(self, suffix: str = "") -> Path:
        self._count += 1
        return self.root / f"{self._count}{suffix}"

    def clear(self) -> None:
        for path in self.root.iterdir():
            path.unlink(missing_ok=True)


@contextmanager
def workspace() -> Iterator[Workspace]:
    root = Path(tempfile.mkdtemp(prefix="banana-api-"))
    try:
        yield Workspace(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def read_to_file(stream: Readable, limit: int) -> IO[bytes]:
    """The body read from `stream`, at most `limit` bytes, into a temporary file (in memory
    while small), rewound. BodyTooLarge past the limit."""
    spool = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY)  # noqa: SIM115 (returned)
    size = 0
    while chunk := stream.read(min(CHUNK, limit + 1 - size)):
        size += len(chunk)
        if size > limit:
            spool.close()
            raise BodyTooLarge
        spool.write(chunk)
    spool.seek(0)
    return spool


@dataclass
class JsonBody:
    """A JSON object read from a request. `spilled` holds, for the index of each `images`
    item too long to keep in memory, the file its text went to; its place in `fields`
    holds only the item's first SPILLED_PREFIX characters (enough to check its form)."""

    fields: Any
    spilled: dict[int, Path] = field(default_factory=dict)


def parse_json(stream: IO[bytes], work: Workspace | None = None) -> JsonBody:
    """The JSON in `stream`, built from ijson's events without recursion. MalformedBody
    when it is not JSON or nests deeper than MAX_DEPTH. With a workspace, long `images`
    items are spilled to files as they are read."""
    stack: list[tuple[Any, str | None]] = []  # (container, the key its next value goes to)
    root: list[Any] = []
    spilled: dict[int, Path] = {}

    def put(value: Any) -> None:
        if not stack:
            root.append(value)
            return
        container, key = stack[-1]
        if isinstance(container, dict):
            container[key] = value
        else:
            container.append(value)

    try:
        for event, value in PARSER.basic_parse(stream, use_float=True, buf_size=CHUNK):
            if event in ("start_map", "start_array"):
                if len(stack) >= MAX_DEPTH:
                    raise MalformedBody("nested too deeply")
                container: Any = {} if event == "start_map" else []
                put(container)
                stack.append((container, None))
            elif event in ("end_map", "end_array"):
                stack.pop()
            elif event == "map_key":
                stack[-1] = (stack[-1][0], value)
            else:
                if (
                    work is not None
                    and event == "string"
                    and len(value) > SPILL_AT
                    and _in_top_level_images(stack)
                ):
                    index = len(stack[-1][0])
                    path = work.new_file(".txt")
                    path.write_text(value, encoding="utf-8", errors="surrogatepass")
                    spilled[index] = path
                    value = value[:SPILLED_PREFIX]
                put(value)
    except ijson.JSONError as exc:
        if "overflow" in str(exc):
            return _parsed_whole(stream)
        raise MalformedBody(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise MalformedBody(str(exc)) from None
    if len(root) != 1:
        raise MalformedBody("no JSON value")
    return JsonBody(root[0], spilled)


def _parsed_whole(stream: IO[bytes]) -> JsonBody:
    """The standard library's parse, for the rare body with a number past 64 bits (valid
    JSON yajl refuses): whole, so only where such a number is."""
    stream.seek(0)
    try:
        return JsonBody(json.loads(stream.read()))
    except (ValueError, RecursionError) as exc:
        raise MalformedBody(str(exc)) from None


def _in_top_level_images(stack: list[tuple[Any, str | None]]) -> bool:
    return len(stack) == 2 and stack[0][1] == "images" and isinstance(stack[1][0], list)


class DataUriError(Exception):
    """A message safe to show the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def decode_data_uri_file(source: Path, target: Path, max_bytes: int) -> int:
    """Decode the base64 `data:` URI whose text is in `source` into `target`, chunk by
    chunk; returns the decoded size. The same rules as fetch's in-memory decoding:
    image/* media types, base64 only, %-escapes and whitespace tolerated."""
    with source.open(encoding="utf-8", errors="surrogatepass") as text:
        match = _DATA_HEADER.match(text.read(len("data:") + 201))
        if match is None:
            raise DataUriError("Malformed data URI.")
        params = [p.strip().lower() for p in match[1].split(";")]
        if len(params) < 2 or params[-1] != "base64":
            raise DataUriError("Only base64 data URIs are supported.")
        if not params[0].startswith("image/"):
            raise DataUriError("Data URI is not an image.")
        text.seek(0)
        text.read(match.end())
        size = 0
        pending = ""  # text read but not yet unescaped (may end in a cut %-escape)
        carry = ""  # base64 characters short of a multiple of four
        with target.open("wb") as out:
            while True:
                chunk = text.read(CHUNK)
                final = not chunk
                pending += chunk
                cut = -1 if final else pending.rfind("%", max(0, len(pending) - 2))
                work, pending = (pending, "") if cut < 0 else (pending[:cut], pending[cut:])
                if "%" in work:
                    work = urllib.parse.unquote(work)
                carry += "".join(work.split())
                usable = len(carry) if final else len(carry) - len(carry) % 4
                piece, carry = carry[:usable], carry[usable:]
                if final:
                    piece += "=" * (-len(piece) % 4)
                try:
                    data = base64.b64decode(piece, validate=True)
                except (binascii.Error, ValueError):
                    raise DataUriError("Malformed base64 in data URI.") from None
                size += len(data)
                if size > max_bytes:
                    raise DataUriError("Image is larger than the allowed size.")
                out.write(data)
                if final:
                    break
    if size == 0:
        raise DataUriError("Data URI is empty.")
    return size
