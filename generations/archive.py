"""A ZIP archive written as it is sent: each file is read from storage in turn and passed
on in small chunks, so memory stays small however many images a collection holds.

Images are already compressed, so entries are stored, not deflated. The archive needs no
seeking (sizes and checksums follow each entry in a data descriptor).
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO

logger = logging.getLogger(__name__)

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Entry:
    arcname: str  # the name inside the archive
    name: str  # the storage name
    modified: datetime


class _Sink(io.RawIOBase):
    """Where zipfile writes: collects what it wrote until taken. Not seekable."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        chunk = bytes(data)  # type: ignore[call-overload]
        self._chunks.append(chunk)
        return len(chunk)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def stream_zip(entries: Iterable[Entry], open_file: Callable[[str], IO[bytes]]) -> Iterator[bytes]:
    """The bytes of a ZIP of `entries`, chunk by chunk. A file that cannot be read (removed
    meanwhile) is left out."""
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for entry in entries:
            # Opened and read from before the entry begins: a file that is gone (object
            # storage says so only when read) leaves no half-written entry behind.
            try:
                source = open_file(entry.name)
            except Exception:
                logger.warning("ZIP: %s could not be opened, left out", entry.name)
                continue
            try:
                chunk = source.read(CHUNK)
            except Exception:
                source.close()
                logger.warning("ZIP: %s could not be read, left out", entry.name)
                continue
            with source:
                info = zipfile.ZipInfo(entry.arcname, date_time=entry.modified.timetuple()[:6])
                info.compress_type = zipfile.ZIP_STORED
                with archive.open(info, mode="w") as target:
                    while chunk:
                        target.write(chunk)
                        if data := sink.take():
                            yield data
                        chunk = source.read(CHUNK)
            if data := sink.take():
                yield data
    yield sink.take()
