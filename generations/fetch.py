"""SSRF-safe download of generated images.

Plain functions with explicit parameters: nothing here imports Django, so the caller passes the
relevant settings values in a :class:`FetchPolicy` and translates messages if it shows them.

Defences, in order:

* only ``data:`` (base64 ``image/*``), ``http`` and ``https`` URLs; no credentials in URLs;
  plain ``http`` refused when ``require_https``;
* optional hostname allowlist, and a literal-IP pre-check, re-applied at every redirect hop
  (redirects are followed by hand, up to ``max_redirects``);
* the address the socket *actually connected to* (``getpeername()``) is checked before any
  byte is sent, which defeats DNS rebinding and odd IP spellings (``0x7f.1``, ``2130706433``);
* ``trust_env`` is off, so ``HTTP(S)_PROXY``/``ALL_PROXY`` cannot route around the check, and
  proxies cannot be configured on the session at all;
* the body is streamed with a byte cap and an overall per-response deadline.

Error messages name the host only, never the path or query string (which can carry tokens).
"""

import base64
import binascii
import ipaddress
import re
import socket
import time
import urllib.parse
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import parse_url

__all__ = ["FetchError", "FetchPolicy", "check_url", "fetch"]

_CHUNK_SIZE = 64 * 1024
_REQUEST_HEADERS = {
    "Accept": "image/png,image/jpeg,image/webp,image/*;q=0.8",
    # Ask for the raw body so the byte cap counts what the server sends; decoded bytes are
    # capped too, so a server ignoring this cannot inflate past max_bytes.
    "Accept-Encoding": "identity",
    "User-Agent": "BananaStudio-fetch/1",
}
_NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
_LEGACY_IPV4_RE = re.compile(r"[0-9a-fx.]+")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchError(Exception):
    """Safe to log; ``.permanent`` says whether retrying can help; ``.address_refused`` that
    the host did not resolve, or resolved to an address the policy refuses (callers that
    answer strangers say the same for both)."""

    def __init__(self, message: str, *, permanent: bool, address_refused: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.address_refused = address_refused

    def __repr__(self) -> str:
        return f"FetchError({self.message!r}, permanent={self.permanent})"


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = 20 * 1024 * 1024
    require_https: bool = True  # production; dev/tests pass False
    allow_private: bool = False  # dev/tests allow loopback (the local emulator)
    # Empty = any public host; else only these hostnames (exact, case-insensitive).
    # A leading "." also matches every subdomain (".example.com" matches example.com and
    # cdn.example.com), like Django's ALLOWED_HOSTS.
    allowed_hosts: frozenset[str] = frozenset()
    max_redirects: int = 3
    timeout: tuple[float, float] = (5.0, 30.0)  # (connect, read) seconds

    def __post_init__(self) -> None:
        hosts = frozenset(h.strip().lower().rstrip(".") for h in self.allowed_hosts if h.strip())
        object.__setattr__(self, "allowed_hosts", hosts)
        if self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")


# --------------------------------------------------------------------------- address checks


class _BlockedAddressError(Exception):
    """Raised from inside the connection; deliberately not an OSError so urllib3 never retries
    it and requests does not wrap it."""


def _ip_allowed(ip: IPAddress, allow_private: bool) -> bool:
    """Whether connecting to ``ip`` is acceptable under the policy."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return _ip_allowed(ip.ipv4_mapped, allow_private)
        if ip.sixtofour is not None and not _ip_allowed(ip.sixtofour, allow_private):
            return False
        if ip.teredo is not None:
            return False
        if ip in _NAT64_PREFIX:
            return _ip_allowed(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), allow_private)
    # Never: multicast, 0.0.0.0/::, link-local (includes cloud metadata at 169.254.169.254).
    if ip.is_multicast or ip.is_unspecified or ip.is_link_local:
        return False
    if allow_private and (ip.is_loopback or (ip.is_private and not ip.is_reserved)):
        return True
    return ip.is_global and not ip.is_reserved


def _literal_ip(host: str) -> IPAddress | None:
    """The address if ``host`` is an IP literal, including legacy IPv4 spellings that
    ``getaddrinfo`` would accept (``127.1``, ``0x7f000001``, ``2130706433``)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4_RE.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _check_literal_host(host: str, policy: FetchPolicy) -> None:
    ip = _literal_ip(host)
    if ip is not None and not _ip_allowed(ip, policy.allow_private):
        raise FetchError(
            address_refused_message(host),
            permanent=True,
            address_refused=True,
        )


# The mixin is only ever combined with urllib3's connection classes: tell the type checker
# so, and `super()._new_conn()` is known to return a socket. At run time its base is object.
if TYPE_CHECKING:
    _PeerCheckBase = HTTPConnection
else:
    _PeerCheckBase = object


class _PeerCheckMixin(_PeerCheckBase):
    """Checks the peer address of every new socket before anything is sent on it."""

    allow_private: bool = False

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        try:
            ip = ipaddress.ip_address(sock.getpeername()[0])
        except (OSError, ValueError, IndexError, TypeError) as exc:
            sock.close()
            raise _BlockedAddressError("unknown peer address") from exc
        if not _ip_allowed(ip, self.allow_private):
            sock.close()
            raise _BlockedAddressError(str(ip))
        return sock


@cache
def _pool_classes(allow_private: bool) -> dict[str, type[HTTPConnectionPool]]:
    attrs = {"allow_private": allow_private}
    http_conn = type("GuardedHTTPConnection", (_PeerCheckMixin, HTTPConnection), attrs)
    https_conn = type("GuardedHTTPSConnection", (_PeerCheckMixin, HTTPSConnection), attrs)
    http_pool: type[HTTPConnectionPool] = type(
        "GuardedHTTPConnectionPool", (HTTPConnectionPool,), {}
    )
    http_pool.ConnectionCls = http_conn
    https_pool: type[HTTPSConnectionPool] = type(
        "GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {}
    )
    https_pool.ConnectionCls = https_conn
    return {"http": http_pool, "https": https_pool}


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, allow_private: bool):
        self._allow_private = allow_private  # needed by init_poolmanager, called by super
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self._allow_private)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> NoReturn:
        raise _BlockedAddressError("proxies are disabled")


def _new_session(policy: FetchPolicy) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # ignore *_PROXY env vars, .netrc, REQUESTS_CA_BUNDLE
    session.proxies.clear()
    session.max_redirects = policy.max_redirects
    adapter = _GuardedAdapter(policy.allow_private)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# --------------------------------------------------------------------------- URL checks


def _host_allowed(host: str, allowed: frozenset[str]) -> bool:
    if not allowed:
        return True
    for entry in allowed:
        if entry.startswith("."):
            if host == entry[1:] or host.endswith(entry):
                return True
        elif host == entry:
            return True
    return False


def _check_url(url: str, policy: FetchPolicy) -> str:
    """Validate one hop; return the normalised host (safe to put in messages)."""
    if any(ord(c) < 0x21 or c in "\\\x7f" for c in url):
        raise FetchError("Malformed image URL.", permanent=True)
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError("Malformed image URL.", permanent=True) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = scheme if scheme.isalnum() and len(scheme) < 20 else "?"
        raise FetchError(f"Unsupported URL scheme '{shown}'.", permanent=True)
    if "@" in parts.netloc:
        raise FetchError("URLs with credentials are not allowed.", permanent=True)
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise FetchError("Image URL has no host.", permanent=True)
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise FetchError("Malformed image URL host.", permanent=True) from None
    if scheme == "http" and policy.require_https:
        raise FetchError(f"Refusing plain HTTP to {host}: HTTPS is required.", permanent=True)
    # Guard against parser differentials: urllib3 must see the very same host and port.
    try:
        u3 = parse_url(url)
    except ValueError:
        raise FetchError("Malformed image URL.", permanent=True) from None
    u3_host = (u3.host or "").strip("[]").lower().rstrip(".")
    if u3_host != host or u3.port != port:
        raise FetchError("Malformed image URL host.", permanent=True)
    if not _host_allowed(host, policy.allowed_hosts):
        raise FetchError(f"Host {host} is not in the allowed image hosts.", permanent=True)
    _check_literal_host(host, policy)
    return host


def address_refused_message(host: str) -> str:
    """One message whether the host did not resolve or resolved to a refused address, so
    that nobody learns from our answers what resolves inside our network."""
    return f"Refusing {host}: it does not resolve, or its address is not allowed."


def check_url(url: str, policy: FetchPolicy) -> None:
    """Refuse a URL that ``fetch`` would refuse, without fetching it: its form (scheme,
    credentials, https, allowed hosts) and every address its host resolves to now.

    For URLs that someone else fetches (the image service, a member's webhook receiver):
    whoever connects later must still check the connected address, as ``fetch`` does,
    since DNS may answer differently by then.
    """
    if not isinstance(url, str) or not url.strip():
        raise FetchError("Missing URL.", permanent=True)
    url = url.strip()
    host = _check_url(url, policy)
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        if policy.allow_private:  # development: names may resolve only where fetched
            return
        raise FetchError(
            address_refused_message(host), permanent=False, address_refused=True
        ) from None
    for info in infos:
        try:
            ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        except ValueError:
            raise FetchError(
                address_refused_message(host), permanent=True, address_refused=True
            ) from None
        if not _ip_allowed(ip, policy.allow_private):
            raise FetchError(address_refused_message(host), permanent=True, address_refused=True)


# --------------------------------------------------------------------------- data: URIs


def _decode_data_uri(url: str, max_bytes: int) -> bytes:
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise FetchError("Malformed data URI.", permanent=True)
    params = [p.strip().lower() for p in header.split(";")]
    if len(params) < 2 or params[-1] != "base64":
        raise FetchError("Only base64 data URIs are supported.", permanent=True)
    if not params[0].startswith("image/"):
        raise FetchError("Data URI is not an image.", permanent=True)
    max_b64 = 4 * (max_bytes // 3 + 1)
    if len(payload) > 3 * max_b64 + 64:  # generous bound that allows %-escapes
        raise FetchError("Image is larger than the allowed size.", permanent=True)
    if "%" in payload:
        payload = urllib.parse.unquote(payload)
    payload = "".join(payload.split())
    if len(payload) > max_b64:
        raise FetchError("Image is larger than the allowed size.", permanent=True)
    try:
        data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise FetchError("Malformed base64 in data URI.", permanent=True) from None
    if not data:
        raise FetchError("Data URI is empty.", permanent=True)
    if len(data) > max_bytes:
        raise FetchError("Image is larger than the allowed size.", permanent=True)
    return data


# --------------------------------------------------------------------------- http(s)


def _read_capped(resp: requests.Response, policy: FetchPolicy, host: str) -> bytes:
    length = resp.headers.get("Content-Length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            declared = None
        if declared is not None and declared > policy.max_bytes:
            raise FetchError(f"Image from {host} is larger than the allowed size.", permanent=True)
    # The read timeout applies per socket read; also bound the whole body against slow drips.
    deadline = time.monotonic() + policy.timeout[0] + policy.timeout[1]
    body = bytearray()
    try:
        for chunk in resp.iter_content(chunk_size=_CHUNK_SIZE):
            body += chunk
            if len(body) > policy.max_bytes:
                raise FetchError(
                    f"Image from {host} is larger than the allowed size.", permanent=True
                )
            if time.monotonic() > deadline:
                raise FetchError(f"Timed out downloading image from {host}.", permanent=False)
    except requests.exceptions.ContentDecodingError:
        raise FetchError(f"Undecodable response body from {host}.", permanent=True) from None
    except requests.exceptions.RequestException:
        raise FetchError(f"Connection to {host} failed mid-download.", permanent=False) from None
    if not body:
        raise FetchError(f"Empty response from {host}.", permanent=True)
    return bytes(body)


def _status_error(status: int, host: str) -> FetchError:
    if status >= 500 or status in (408, 425, 429):
        return FetchError(f"{host} answered HTTP {status}.", permanent=False)
    return FetchError(f"{host} answered HTTP {status}.", permanent=True)


def _get(session: requests.Session, url: str, policy: FetchPolicy, host: str) -> requests.Response:
    try:
        return session.get(
            url,
            stream=True,
            allow_redirects=False,
            timeout=policy.timeout,
            headers=_REQUEST_HEADERS,
        )
    except _BlockedAddressError:
        raise FetchError(
            address_refused_message(host),
            permanent=True,
            address_refused=True,
        ) from None
    except requests.exceptions.Timeout:
        raise FetchError(f"Timed out connecting to {host}.", permanent=False) from None
    except requests.exceptions.SSLError:
        raise FetchError(f"TLS error talking to {host}.", permanent=True) from None
    except requests.exceptions.ConnectionError:
        raise FetchError(f"Could not connect to {host}.", permanent=False) from None
    except requests.exceptions.RequestException:
        raise FetchError(f"Request to {host} failed.", permanent=True) from None


def fetch(url: str, policy: FetchPolicy) -> bytes:
    """Download an image from ``url`` (http, https or base64 data: URI) under ``policy``.

    Raises :class:`FetchError` on any refusal or failure.
    """
    if not isinstance(url, str) or not url:
        raise FetchError("Missing image URL.", permanent=True)
    url = url.strip()
    if url[:5].lower() == "data:":
        return _decode_data_uri(url, policy.max_bytes)

    current = url
    with _new_session(policy) as session:
        for _hop in range(policy.max_redirects + 1):
            host = _check_url(current, policy)
            with _get(session, current, policy, host) as resp:
                if resp.is_redirect:
                    location = session.get_redirect_target(resp)
                    current = urllib.parse.urljoin(current, location)
                    continue
                if not 200 <= resp.status_code < 300:
                    raise _status_error(resp.status_code, host)
                return _read_capped(resp, policy, host)
    raise FetchError(
        f"Too many redirects (more than {policy.max_redirects}) fetching the image.",
        permanent=True,
    )
