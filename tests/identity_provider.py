"""A real OpenID Connect provider on loopback for the sign-in tests: panva's `oidc-provider`
from npm, run with node (tests/oidc_provider/provider.mjs: a login form of its own, PKCE
required, accounts read from a JSON file the tests write).

The package is installed by the tests themselves, with `npm ci` from the committed lock file,
into a cache folder named after the lock file's and script's hash (var/test-cache/ unless
BANANA_TEST_CACHE says otherwise), so a fresh machine needs only node and npm, and later runs
reuse it. Without node or npm the tests skip, except where CI requires them
(BANANA_REQUIRE_BROWSER=1), where they fail.
"""

import hashlib
import json
import os
import re
import selectors
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests

SOURCE = Path(__file__).resolve().parent / "oidc_provider"
ROOT = SOURCE.parent.parent
FILES = ("package.json", "package-lock.json", "provider.mjs")
REQUIRED = os.environ.get("BANANA_REQUIRE_BROWSER") == "1"
CLIENT_ID = "banana-studio"
CLIENT_SECRET = "test-client-secret-" + "x" * 20
CALLBACK_PATH = "/login/provider/callback/"


def _unavailable(reason):
    if REQUIRED:
        pytest.fail(f"the test identity provider is required here but {reason}")
    pytest.skip(reason)


def tool(name):
    path = shutil.which(name)
    if path is None:
        _unavailable(f"{name} is not installed (apt-get install nodejs npm)")
    return path


def installed_provider():
    """The folder holding provider.mjs with its node_modules, installed once per version."""
    npm = tool("npm")
    tool("node")
    digest = hashlib.sha256(b"".join((SOURCE / name).read_bytes() for name in FILES)).hexdigest()
    cache = Path(os.environ.get("BANANA_TEST_CACHE", ROOT / "var" / "test-cache"))
    target = cache / f"oidc-provider-{digest[:16]}"
    if (target / "node_modules" / "oidc-provider").is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="oidc-provider-", dir=cache))
    for name in FILES:
        shutil.copy(SOURCE / name, staging / name)
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
        cwd=staging,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        _unavailable(f"npm ci of the test identity provider failed: {result.stderr[-2000:]}")
    try:
        staging.rename(target)
    except OSError:  # another run installed it meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    return target


class IdentityProvider:
    """One node process serving the provider on 127.0.0.1 at a free port."""

    def __init__(self, folder, redirect_uris, workdir):
        self.accounts_file = workdir / "accounts.json"
        self.accounts = {}
        self._write_accounts()
        config = workdir / "config.json"
        config.write_text(
            json.dumps(
                {
                    "clients": [
                        {
                            "client_id": CLIENT_ID,
                            "client_secret": CLIENT_SECRET,
                            "redirect_uris": list(redirect_uris),
                        }
                    ],
                    "accounts_file": str(self.accounts_file),
                }
            )
        )
        self.log = (workdir / "provider.log").open("w")
        self.process = subprocess.Popen(
            [tool("node"), str(folder / "provider.mjs"), str(config)],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.issuer = self._read_issuer()

    def _read_issuer(self, timeout=20):
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                self.stop()
                raise RuntimeError("the test identity provider did not start")
        line = self.process.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("the test identity provider exited at start")
        return json.loads(line)["issuer"]

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def _write_accounts(self):
        self.accounts_file.write_text(json.dumps(self.accounts))

    def add_account(
        self,
        login,
        *,
        email=None,
        verified=True,
        name="",
        groups=(),
        password="provider-pw",
        disabled=False,
    ):
        """A person at the provider; they sign in there with `login` and `password`."""
        self.accounts[login] = {
            "password": password,
            "disabled": disabled,
            "claims": {
                "email": email or f"{login}@example.com",
                "email_verified": verified,
                "name": name or login.title(),
                "preferred_username": login,
                "groups": list(groups),
            },
        }
        self._write_accounts()

    def disable(self, login):
        self.accounts[login]["disabled"] = True
        self._write_accounts()

    def reset(self):
        self.accounts = {}
        self._write_accounts()


def use_provider(settings, provider, **rules):
    """Point the studio at `provider` (discovery reads its endpoints), with these rules."""
    settings.OIDC_ISSUER = provider.issuer
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_PROVIDER_NAME = "Example SSO"
    settings.OIDC_ALLOWED_DOMAINS = rules.get("domains", [])
    settings.OIDC_REQUIRED_GROUP = rules.get("group", "")
    settings.OIDC_RP_SCOPES = "openid email profile groups"


class PersonAtTheProvider:
    """The provider's side of one person's browser: its cookies (their session there) and
    the provider's pages, driven over HTTP. Our side is a Django test client."""

    def __init__(self, provider):
        self.provider = provider
        self.http = requests.Session()

    def follow(self, client, response):
        """Follow `response`'s redirects between the studio (test client) and the provider
        (HTTP) until a page is shown. Returns ("studio", response) or ("provider", response)."""
        for _ in range(20):
            if response.status_code not in (301, 302, 303):
                return ("studio", response)
            location = response["Location"]
            if not location.startswith(self.provider.issuer):
                response = client.get(location)
                continue
            answer = self.http.get(location, allow_redirects=False, timeout=10)
            while answer.status_code in (301, 302, 303):
                target = urljoin(answer.url, answer.headers["Location"])
                if not target.startswith(self.provider.issuer):
                    parts = urlsplit(target)
                    response = client.get(f"{parts.path}?{parts.query}")
                    break
                answer = self.http.get(target, allow_redirects=False, timeout=10)
            else:
                return ("provider", answer)
        raise AssertionError("too many redirects")

    def sign_in(self, client, login, password="provider-pw", start=None):
        """Press "Sign in with …" on the studio, sign in at the provider's form, and come
        back. Returns the studio's last response (after its redirects)."""
        response = start or client.get("/login/provider/")
        where, page = self.follow(client, response)
        if where == "studio":
            return page
        action = re.search(r'action="([^"]+)"', page.text).group(1)
        answer = self.http.post(
            urljoin(self.provider.issuer, action),
            data={"login": login, "password": password},
            allow_redirects=False,
            timeout=10,
        )
        if answer.status_code not in (302, 303):
            raise AssertionError(f"the provider did not accept the sign-in: {answer.text[:300]}")
        target = urljoin(answer.url, answer.headers["Location"])
        while target.startswith(self.provider.issuer):
            answer = self.http.get(target, allow_redirects=False, timeout=10)
            target = urljoin(answer.url, answer.headers["Location"])
        parts = urlsplit(target)
        where, page = self.follow(client, client.get(f"{parts.path}?{parts.query}"))
        return page


@pytest.fixture(scope="session")
def _provider_for_test_client(tmp_path_factory):
    provider = IdentityProvider(
        installed_provider(),
        [f"http://testserver{CALLBACK_PATH}"],
        tmp_path_factory.mktemp("identity-provider"),
    )
    yield provider
    provider.stop()


@pytest.fixture
def provider(_provider_for_test_client, settings):
    """The provider, with no accounts yet, and the studio pointed at it; people at
    example.com may join (tests change the rules through `settings`)."""
    _provider_for_test_client.reset()
    use_provider(settings, _provider_for_test_client, domains=["example.com"])
    return _provider_for_test_client
