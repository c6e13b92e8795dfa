"""Tests for generations.fetch (SSRF-safe downloads) and generations.images (Pillow pipeline).

No database and no Django settings are needed; only loopback servers started here
(127.0.0.1, ::1). Nothing reaches beyond this machine: where a fetch would have
to, the `no_network` fixture makes connecting fail and records the address that was tried.
"""

import base64
import contextlib
import errno
import io
import socket
import struct
import threading
import time
import urllib.parse
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3.util.connection
from PIL import Image, PngImagePlugin

from generations import fetch as fetch_mod
from generations.fetch import FetchError, FetchPolicy, fetch
from generations.images import (
    ALLOWED_FORMATS,
    ImageRejected,
    ProcessedImage,
    process_image,
    validate_upload,
)

# --------------------------------------------------------------------------- helpers


def _png_bytes(size=(8, 6), colour=(200, 30, 30), mode="RGB", **save_kwargs) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, "PNG", **save_kwargs)
    return buf.getvalue()


def _encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _noise(size=(64, 48), mode="RGB") -> Image.Image:
    return Image.frombytes(
        mode, size, bytes((i * 7919) % 251 for i in range(size[0] * size[1] * 3))
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_claiming(width: int, height: int) -> bytes:
    """A tiny, hand-made PNG whose IHDR claims the given dimensions."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


PNG = _png_bytes()
BIG_SIZE = 512 * 1024


class _Handler(BaseHTTPRequestHandler):
    hits: Counter  # set on the per-server subclass
    answer_slow_requests: threading.Event  # likewise: /slow answers once it is set

    def log_message(self, format, *args):  # silence test output
        pass

    def _send(self, status, body=b"", headers=None, content_length=True):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if content_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    def do_GET(self):
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path
        self.hits[path] += 1
        self.hits["*"] += 1
        if path == "/png":
            self._send(200, PNG, {"Content-Type": "image/png"})
        elif path == "/big":
            self._send(200, b"\0" * BIG_SIZE, {"Content-Type": "image/png"})
        elif path == "/big-no-length":
            self._send(200, b"\0" * BIG_SIZE, content_length=False)
        elif path == "/redirect":
            self._send(302, headers={"Location": "/png"})
        elif path == "/goto":
            target = urllib.parse.parse_qs(parsed.query)["u"][0]
            self._send(302, headers={"Location": target})
        elif path.startswith("/chain/"):
            remaining = int(path.rsplit("/", 1)[1])
            target = "/png" if remaining <= 1 else f"/chain/{remaining - 1}"  # N redirects
            self._send(301, headers={"Location": target})
        elif path == "/404":
            self._send(404, b"not found")
        elif path == "/500":
            self._send(500, b"boom")
        elif path == "/429":
            self._send(429, b"slow down")
        elif path == "/slow":
            self.answer_slow_requests.wait(timeout=10)
            self._send(200, PNG)
        elif path == "/empty":
            self._send(200, b"")
        else:
            self._send(404)


def _start_server(host: str):
    attrs = {"hits": Counter(), "answer_slow_requests": threading.Event()}
    handler = type("Handler", (_Handler,), attrs)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("Server", (ThreadingHTTPServer,), {"address_family": family})
    server = server_class((host, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    return server, thread


class _Server:
    def __init__(self, server):
        self.server = server
        self.host, self.port = server.server_address[:2]
        self.hits = server.RequestHandlerClass.hits
        self.answer_slow_requests = server.RequestHandlerClass.answer_slow_requests

    def url(self, path: str, host: str | None = None) -> str:
        host = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"http://{host}:{self.port}{path}"


@pytest.fixture(scope="module")
def _server_module():
    server, thread = _start_server("127.0.0.1")
    yield _Server(server)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def server(_server_module):
    _server_module.hits.clear()
    _server_module.answer_slow_requests.clear()
    return _server_module


@pytest.fixture
def ipv6_server():
    try:
        srv, thread = _start_server("::1")
    except OSError:
        pytest.skip("cannot bind ::1")
    yield _Server(srv)
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


@pytest.fixture
def no_network(monkeypatch):
    """Connecting fails as on a machine without a network; the addresses tried are recorded."""
    tried = []

    def unreachable(address, *args, **kwargs):
        tried.append(address[0])
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", unreachable)
    return tried


def _literal_url(address: str) -> str:
    return f"http://[{address}]/png" if ":" in address else f"http://{address}/png"


DEV = FetchPolicy(require_https=False, allow_private=True, timeout=(2.0, 2.0))
PUBLIC_ONLY = FetchPolicy(require_https=False, allow_private=False, timeout=(2.0, 2.0))


# --------------------------------------------------------------------------- fetch: basics


def test_fetch_downloads_image_from_allowed_private_server(server):
    assert fetch(server.url("/png"), DEV) == PNG
    assert server.hits["/png"] == 1


def test_fetch_error_carries_message_and_permanence():
    err = FetchError("nope", permanent=True)
    assert str(err) == "nope"
    assert err.permanent is True
    assert FetchError("later", permanent=False).permanent is False


def test_fetch_policy_defaults_are_production_safe():
    policy = FetchPolicy()
    assert policy.max_bytes == 20 * 1024 * 1024
    assert policy.require_https is True
    assert policy.allow_private is False
    assert policy.allowed_hosts == frozenset()
    assert policy.max_redirects == 3
    assert policy.timeout == (5.0, 30.0)


# --------------------------------------------------------------------------- fetch: addresses


def test_fetch_refuses_loopback_when_private_not_allowed(server):
    with pytest.raises(FetchError) as exc:
        fetch(server.url("/png"), PUBLIC_ONLY)
    assert exc.value.permanent
    assert server.hits["*"] == 0


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "[::1]", "[::ffff:7f00:1]"])
def test_fetch_refuses_odd_spellings_of_loopback_before_connecting(host):
    with pytest.raises(FetchError) as exc:
        fetch(f"http://{host}:9/png", PUBLIC_ONLY)
    assert exc.value.permanent
    assert "not allowed" in exc.value.message


def test_fetch_connected_address_check_refuses_loopback_reached_via_localhost(server):
    # "localhost" is not an IP literal, so only the check on the connected socket can stop it.
    with pytest.raises(FetchError) as exc:
        fetch(server.url("/png", host="localhost"), PUBLIC_ONLY)
    assert exc.value.permanent
    assert "not allowed" in exc.value.message
    assert server.hits["*"] == 0  # refused before a single request byte was sent


@pytest.mark.parametrize("host", ["0.0.0.0", "0"])  # noqa: S104
def test_fetch_checks_the_address_again_at_every_redirect_hop(server, host):
    # Linux connects 0.0.0.0 (also spelt "0") to this very machine: without the check, the
    # second hop would reach the server's /png.
    target = server.url("/png", host=host)
    with pytest.raises(FetchError) as exc:
        fetch(server.url("/goto?u=" + urllib.parse.quote(target, safe="")), DEV)
    assert exc.value.permanent
    assert "its address is not allowed" in exc.value.message
    assert server.hits["/goto"] == 1
    assert server.hits["/png"] == 0


def test_fetch_refuses_redirect_from_allowlisted_host_to_other_host(server):
    policy = FetchPolicy(
        require_https=False, allow_private=True, allowed_hosts=frozenset({"LocalHost"})
    )
    assert fetch(server.url("/redirect", host="localhost"), policy) == PNG
    target = server.url("/png")  # 127.0.0.1: same machine, but not an allowlisted name
    with pytest.raises(FetchError) as exc:
        fetch(server.url("/goto?u=" + urllib.parse.quote(target), host="localhost"), policy)
    assert exc.value.permanent
    assert "not in the allowed" in exc.value.message
    assert server.hits["/png"] == 1  # only the first, allowed fetch


def _allowing(*hosts: str) -> FetchPolicy:
    return FetchPolicy(require_https=False, allow_private=True, allowed_hosts=frozenset(hosts))


@pytest.mark.parametrize(
    ("allowed", "host"),
    [
        ({"img.localhost"}, "localhost"),  # an exact name admits neither its parent...
        ({"localhost"}, "img.localhost"),  # ... nor its subdomains
        ({".img.localhost"}, "localhost"),  # a leading dot admits the name and below only
        ({".img.localhost"}, "evilimg.localhost"),  # ... in whole labels
    ],
    ids=["not-the-parent", "not-a-subdomain", "not-above-a-dotted-entry", "whole-labels-only"],
)
def test_fetch_refuses_hosts_outside_the_allowlist_before_connecting(server, allowed, host):
    with pytest.raises(FetchError) as exc:
        fetch(server.url("/png", host=host), _allowing(*allowed))
    assert exc.value.permanent
    assert exc.value.message == f"Host {host} is not in the allowed image hosts."
    assert server.hits["*"] == 0


@pytest.mark.parametrize(
    "allowed",
    [{"localhost"}, {" LocalHost. "}, {".localhost"}, set()],
    ids=["exact", "normalised", "leading-dot-admits-the-name-itself", "empty-admits-any"],
)
def test_fetch_allows_hosts_on_the_allowlist(server, allowed):
    assert fetch(server.url("/png", host="localhost"), _allowing(*allowed)) == PNG


@pytest.mark.parametrize("host", ["img.localhost", "a.b.localhost"])
def test_fetch_allowlist_entry_with_a_leading_dot_admits_every_subdomain(server, host):
    # Whether *.localhost resolves to this machine depends on the resolver; either way the
    # allowlist let the fetch through.
    try:
        assert fetch(server.url("/png", host=host), _allowing(".localhost")) == PNG
    except FetchError as exc:
        assert exc.message == f"Could not connect to {host}."


@pytest.mark.parametrize(
    ("address", "private_ok"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("fd00::1", False),
        ("::ffff:10.0.0.1", False),
        ("2002:7f00:1::1", False),  # 6to4 wrapping 127.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 wrapping 10.0.0.1
        ("169.254.169.254", True),  # cloud metadata: never, not even in development
        ("0.0.0.0", True),  # noqa: S104
        ("224.0.0.1", True),
    ],
)
def test_fetch_refuses_addresses_outside_the_policy_before_connecting(
    no_network, address, private_ok
):
    with pytest.raises(FetchError) as exc:
        fetch(_literal_url(address), FetchPolicy(require_https=False, allow_private=private_ok))
    assert exc.value.permanent
    assert "its address is not allowed" in exc.value.message
    assert no_network == []


@pytest.mark.parametrize(
    ("address", "private_ok"),
    [
        ("93.184.216.34", False),
        ("2606:4700::1111", False),
        ("::ffff:8.8.8.8", False),
        ("64:ff9b::808:808", False),  # NAT64 wrapping 8.8.8.8
        ("10.1.2.3", True),
    ],
)
def test_fetch_connects_to_public_addresses_and_to_private_ones_when_allowed(
    no_network, address, private_ok
):
    with pytest.raises(FetchError) as exc:
        fetch(_literal_url(address), FetchPolicy(require_https=False, allow_private=private_ok))
    assert not exc.value.permanent  # no refusal: the connection failed, and may work later
    assert no_network == [address]


def test_fetch_reaches_ipv6_loopback_only_when_private_addresses_are_allowed(ipv6_server):
    assert fetch(ipv6_server.url("/png"), DEV) == PNG
    with pytest.raises(FetchError) as exc:
        fetch(ipv6_server.url("/png"), PUBLIC_ONLY)
    assert exc.value.permanent
    assert ipv6_server.hits["/png"] == 1


def test_fetch_judges_an_ipv4_mapped_address_by_its_ipv4_address(server):
    assert fetch(server.url("/png", host="[::ffff:127.0.0.1]"), DEV) == PNG
    with pytest.raises(FetchError):
        fetch(server.url("/png", host="[::ffff:127.0.0.1]"), PUBLIC_ONLY)
    assert server.hits["/png"] == 1


# --------------------------------------------------------------------------- fetch: URLs


def test_fetch_rejects_http_when_https_required(server):
    policy = FetchPolicy(require_https=True, allow_private=True)
    with pytest.raises(FetchError) as exc:
        fetch(server.url("/png"), policy)
    assert exc.value.permanent
    assert "HTTPS" in exc.value.message
    assert server.hits["*"] == 0


def test_fetch_refusal_names_the_host_normalised(no_network):
    with pytest.raises(FetchError) as exc:
        fetch("http://Example.COM./x.png", FetchPolicy())
    assert exc.value.message == "Refusing plain HTTP to example.com: HTTPS is required."
    assert no_network == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/image.png",
        "gopher://127.0.0.1:70/_x",
        "javascript:alert(1)",
        "//127.0.0.1/png",
        "127.0.0.1/png",
    ],
)
def test_fetch_rejects_file_and_ftp_schemes(url):
    with pytest.raises(FetchError) as exc:
        fetch(url, DEV)
    assert exc.value.permanent


@pytest.mark.parametrize(
    "url",
    [
        "http://user:pw@127.0.0.1/png",
        "http://user@127.0.0.1/png",
        "http://127.0.0.1\\@evil.example/png",
        "http://127.0.0.1/pn g",
        "http:///png",
    ],
)
def test_fetch_rejects_userinfo_and_malformed_urls(url):
    with pytest.raises(FetchError) as exc:
        fetch(url, DEV)
    assert exc.value.permanent


def test_fetch_error_messages_do_not_leak_query_strings(server):
    with pytest.raises(FetchError) as exc:
        fetch(server.url("/404?token=SECRET123&sig=abc"), DEV)
    assert "SECRET123" not in str(exc.value)
    assert "/404" not in str(exc.value)
    assert "127.0.0.1" in str(exc.value)


# --------------------------------------------------------------------------- fetch: redirects


def test_fetch_follows_relative_redirect(server):
    assert fetch(server.url("/redirect"), DEV) == PNG
    assert server.hits["/redirect"] == 1
    assert server.hits["/png"] == 1


def test_fetch_follows_redirect_chain_up_to_the_limit(server):
    assert fetch(server.url("/chain/3"), DEV) == PNG  # exactly 3 redirects, limit 3


def test_fetch_gives_up_on_redirect_chain_longer_than_limit(server):
    with pytest.raises(FetchError) as exc:
        fetch(server.url("/chain/10"), DEV)
    assert exc.value.permanent
    assert "redirect" in exc.value.message.lower()
    assert server.hits["*"] == DEV.max_redirects + 1
    assert server.hits["/png"] == 0


def test_fetch_with_zero_redirects_allowed_refuses_any_redirect(server):
    policy = FetchPolicy(require_https=False, allow_private=True, max_redirects=0)
    with pytest.raises(FetchError):
        fetch(server.url("/redirect"), policy)


def test_fetch_refuses_redirect_to_file_scheme(server):
    with pytest.raises(FetchError) as exc:
        fetch(server.url("/goto?u=file:///etc/passwd"), DEV)
    assert exc.value.permanent
    assert "scheme" in exc.value.message


# --------------------------------------------------------------------------- fetch: bodies


def test_fetch_streams_with_byte_cap(server):
    policy = FetchPolicy(require_https=False, allow_private=True, max_bytes=64 * 1024)
    with pytest.raises(FetchError) as exc:
        fetch(server.url("/big-no-length"), policy)
    assert exc.value.permanent
    assert "larger" in exc.value.message


def test_fetch_honours_too_large_content_length_up_front(server, monkeypatch):
    def no_body_reads(*args, **kwargs):
        raise AssertionError("body must not be read")

    monkeypatch.setattr(fetch_mod.requests.Response, "iter_content", no_body_reads)
    policy = FetchPolicy(require_https=False, allow_private=True, max_bytes=1024)
    with pytest.raises(FetchError) as exc:
        fetch(server.url("/big"), policy)
    assert exc.value.permanent


def test_fetch_accepts_body_exactly_at_cap(server):
    policy = FetchPolicy(require_https=False, allow_private=True, max_bytes=BIG_SIZE)
    assert len(fetch(server.url("/big-no-length"), policy)) == BIG_SIZE


def test_fetch_empty_body_is_permanent_error(server):
    with pytest.raises(FetchError) as exc:
        fetch(server.url("/empty"), DEV)
    assert exc.value.permanent


# --------------------------------------------------------------------------- fetch: failures


def test_fetch_404_is_permanent(server):
    with pytest.raises(FetchError) as exc:
        fetch(server.url("/404"), DEV)
    assert exc.value.permanent
    assert "404" in exc.value.message


def test_fetch_500_is_temporary(server):
    with pytest.raises(FetchError) as exc:
        fetch(server.url("/500"), DEV)
    assert not exc.value.permanent
    assert "500" in exc.value.message


def test_fetch_429_is_temporary(server):
    with pytest.raises(FetchError) as exc:
        fetch(server.url("/429"), DEV)
    assert not exc.value.permanent


def test_fetch_slow_response_times_out_as_temporary(server):
    policy = FetchPolicy(require_https=False, allow_private=True, timeout=(1.0, 0.2))
    started = time.monotonic()
    try:
        with pytest.raises(FetchError) as exc:
            fetch(server.url("/slow"), policy)
    finally:
        server.answer_slow_requests.set()  # the server held its answer back until now
    assert not exc.value.permanent
    assert time.monotonic() - started < 0.9


def test_fetch_connection_refused_is_temporary():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: refused
        with pytest.raises(FetchError) as exc:
            fetch(f"http://127.0.0.1:{port}/png", DEV)
    assert not exc.value.permanent


def test_fetch_ignores_proxy_environment(server, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.setenv(name, dead)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        assert fetch(server.url("/png"), DEV) == PNG


# --------------------------------------------------------------------------- fetch: data URIs


def test_fetch_decodes_data_uri():
    uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert fetch(uri, FetchPolicy()) == PNG


def test_fetch_decodes_data_uri_with_whitespace_and_missing_padding():
    encoded = base64.b64encode(b"abcd").decode().rstrip("=")
    assert fetch(f"DATA:image/webp;BASE64,{encoded[:3]}\n{encoded[3:]}", FetchPolicy()) == b"abcd"


@pytest.mark.parametrize(
    "uri",
    [
        "data:image/png;base64,!!!not-base64!!!",
        "data:image/png;base64,a",
        "data:image/png,rawbytes",
        "data:text/html;base64,PGgxPmhpPC9oMT4=",
        "data:image/png;base64",
        "data:image/png;base64,",
    ],
)
def test_fetch_rejects_malformed_or_non_image_data_uri(uri):
    with pytest.raises(FetchError) as exc:
        fetch(uri, FetchPolicy())
    assert exc.value.permanent


def test_fetch_caps_data_uri_size():
    uri = "data:image/png;base64," + base64.b64encode(b"\0" * 5000).decode()
    with pytest.raises(FetchError) as exc:
        fetch(uri, FetchPolicy(max_bytes=4096))
    assert exc.value.permanent
    assert fetch(uri, FetchPolicy(max_bytes=5000)) == b"\0" * 5000


# --------------------------------------------------------------------------- images


def _reopen(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


@pytest.mark.parametrize(
    ("fmt", "extension", "content_type"),
    [("PNG", "png", "image/png"), ("JPEG", "jpg", "image/jpeg"), ("WEBP", "webp", "image/webp")],
)
def test_process_image_keeps_format_and_reports_metadata(fmt, extension, content_type):
    data = _encode(_noise((40, 30)), fmt)
    result = process_image(data)
    assert isinstance(result, ProcessedImage)
    assert (result.format, result.extension, result.content_type) == (fmt, extension, content_type)
    assert (result.width, result.height) == (40, 30)
    out = _reopen(result.content)
    assert out.format == fmt
    assert out.size == (40, 30)


def test_process_image_strips_exif_metadata():
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Inc"  # Make
    exif[0x0131] = "secret-software"  # Software
    icc = b"\0" * 128  # opaque bytes are fine for Pillow to embed
    jpeg = _encode(_noise(), "JPEG", exif=exif, icc_profile=icc, comment=b"hidden")
    assert b"SpyCam" in jpeg
    result = process_image(jpeg)
    out = _reopen(result.content)
    assert b"SpyCam" not in result.content
    assert "exif" not in out.info
    assert "icc_profile" not in out.info
    assert "comment" not in out.info
    assert len(out.getexif()) == 0

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "secret-person")
    info.add_itxt("Comment", "prompt: secret")
    png = _encode(_noise(), "PNG", pnginfo=info, exif=exif)
    result = process_image(png)
    assert b"secret" not in result.content
    assert b"SpyCam" not in result.content
    out = _reopen(result.content)
    assert not {"Author", "Comment", "exif"} & set(out.info)

    webp = _encode(_noise(), "WEBP", exif=exif, icc_profile=icc)
    result = process_image(webp)
    assert b"SpyCam" not in result.content
    assert "exif" not in _reopen(result.content).info


def test_process_image_applies_exif_orientation():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    jpeg = _encode(_noise((40, 20)), "JPEG", exif=exif)
    result = process_image(jpeg)
    assert (result.width, result.height) == (20, 40)
    assert _reopen(result.content).size == (20, 40)


def test_process_image_rejects_decompression_bomb():
    # Far beyond Pillow's own limit: Pillow raises while opening.
    with pytest.raises(ImageRejected, match="too large"):
        process_image(_png_header_claiming(100_000, 100_000))
    # Within Pillow's limit but over ours: our own width*height check, before any decode.
    with pytest.raises(ImageRejected, match="too large"):
        process_image(_png_header_claiming(7_000, 7_000))
    with pytest.raises(ImageRejected, match="too large"):
        process_image(_png_bytes((100, 100)), max_pixels=9_999)
    assert process_image(_png_bytes((100, 100)), max_pixels=10_000).width == 100


def test_process_image_rejects_gif_and_text():
    message = "The file is not a PNG, JPEG or WebP image."
    gif = _encode(Image.new("P", (4, 4)), "GIF")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    for data in (gif, b"hello, world", svg, b"<html></html>"):
        with pytest.raises(ImageRejected) as exc:
            process_image(data)
        assert exc.value.message == message


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO"])
def test_process_image_rejects_other_pillow_formats(fmt):
    with pytest.raises(ImageRejected, match="not a PNG"):
        process_image(_encode(Image.new("RGB", (16, 16)), fmt))


def test_process_image_rejects_empty_file():
    with pytest.raises(ImageRejected, match="empty"):
        process_image(b"")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_process_image_rejects_truncated_file(fmt):
    data = _encode(_noise((64, 64)), fmt)
    with pytest.raises(ImageRejected):
        process_image(data[: len(data) // 2])


def test_process_image_respects_allowed_formats():
    webp = _encode(_noise(), "WEBP")
    with pytest.raises(ImageRejected) as exc:
        process_image(webp, allowed_formats=frozenset({"PNG", "JPEG"}))
    assert exc.value.message == "The file is not a PNG or JPEG image."
    assert frozenset({"PNG", "JPEG", "WEBP"}) == ALLOWED_FORMATS


def test_process_image_thumbnail_fits_long_side():
    result = process_image(_encode(Image.new("RGB", (1000, 500), (1, 2, 3)), "PNG"))
    assert (result.thumbnail_width, result.thumbnail_height) == (384, 192)
    thumb = _reopen(result.thumbnail)
    assert thumb.format == "WEBP"
    assert thumb.size == (384, 192)

    tall = process_image(_png_bytes((50, 900)), thumb_size=100)
    assert tall.thumbnail_height == 100
    assert 1 <= tall.thumbnail_width <= 6


def test_process_image_thumbnail_never_upscales():
    result = process_image(_png_bytes((20, 10)))
    assert (result.thumbnail_width, result.thumbnail_height) == (20, 10)


def test_process_image_handles_cmyk_jpeg():
    cmyk = _encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG")
    assert _reopen(cmyk).mode == "CMYK"
    result = process_image(cmyk)
    assert result.format == "JPEG"
    out = _reopen(result.content)
    assert out.mode == "RGB"
    r, g, b = out.getpixel((16, 16))
    assert r > 200 and g < 60 and b < 60  # red survives the conversion
    assert _reopen(result.thumbnail).mode == "RGB"


def test_process_image_palette_with_transparency_becomes_rgba():
    img = Image.new("P", (10, 10), 0)
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.putpixel((0, 0), 1)
    data = _encode(img, "PNG", transparency=0)
    result = process_image(data)
    out = _reopen(result.content)
    assert out.mode == "RGBA"
    assert out.getpixel((5, 5))[3] == 0
    assert out.getpixel((0, 0)) == (0, 255, 0, 255)
    assert _reopen(result.thumbnail).mode == "RGBA"


def test_process_image_converts_16_bit_png():
    img = Image.new("I;16", (8, 8), 65535)
    result = process_image(_encode(img, "PNG"))
    out = _reopen(result.content)
    assert out.mode == "L"
    assert out.getpixel((0, 0)) == 255


def test_process_image_drops_trailing_polyglot_data():
    data = PNG + b"<script>alert(1)</script>"
    result = process_image(data)
    assert b"<script>" not in result.content


def test_validate_upload_checks_size_before_decoding():
    with pytest.raises(ImageRejected, match="too large"):
        validate_upload(b"x" * 2048, max_bytes=1024)
    with pytest.raises(ImageRejected, match="empty"):
        validate_upload(b"", max_bytes=1024)
    with pytest.raises(ImageRejected, match="not a PNG"):
        validate_upload(b"x" * 100, max_bytes=1024)
    result = validate_upload(PNG, max_bytes=len(PNG))
    assert result.format == "PNG"


def test_validate_upload_applies_pixel_limit():
    with pytest.raises(ImageRejected, match="too large"):
        validate_upload(_png_bytes((50, 50)), max_bytes=10**6, max_pixels=100)


def test_fetch_checks_connected_address_for_https_before_tls_handshake(server):
    # The server speaks plain HTTP, so a TLS error here would mean the check came too late.
    policy = FetchPolicy(require_https=True, allow_private=False, timeout=(2.0, 2.0))
    with pytest.raises(FetchError) as exc:
        fetch(f"https://localhost:{server.port}/png", policy)
    assert exc.value.permanent
    assert "not allowed" in exc.value.message
