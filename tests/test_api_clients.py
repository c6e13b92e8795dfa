"""Real clients against the APIs as they are served: gunicorn with production's
gunicorn.conf.py and gunicorn as `make run` starts it (rundev.gunicorn_command), on
loopback, with the emulator as upstream.

- Bodies sent chunked (`Transfer-Encoding: chunked`, no Content-Length) are read whole on
  every endpoint, within the same limits as any body (issue 21.15).
- The official `openai` package for Node (npm, installed by the test from the committed
  lock file in tests/openai_node/) sends its README's `fs.createReadStream(...)` edit.
- The exact requests Open WebUI and LibreChat send (tests/fixtures/clients/) work.
"""

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests
from django.db import connection
from urllib3.filepost import encode_multipart_formdata

from generations.management.commands.rundev import gunicorn_command
from generations.models import Generation

from .api_helpers import bearer, data_uri, make_key, png_bytes
from .conftest import TEST_KEY, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
NODE_CLIENT = Path(__file__).resolve().parent / "openai_node"
CLIENT_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "clients"
REQUIRED = os.environ.get("BANANA_REQUIRE_BROWSER") == "1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url():
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


def production_command(addr):
    return [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "-b", addr]


def make_run_command(addr):
    """What `make run` serves with, without its reloader (which only watches files)."""
    return [arg for arg in gunicorn_command(addr) if arg != "--reload"]


@pytest.fixture(params=[production_command, make_run_command], ids=["gunicorn", "make-run"])
def server(request, emulator, tmp_path, settings):
    """A gunicorn serving this test's database, tasks run inline, the emulator upstream."""
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": database_url(),
        "TASKS_BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
        "BANANA_API_BASE_URL": emulator.base_url,
        "BANANA_API_KEY": TEST_KEY,
        "BANANA_API_WAIT_INTERVAL": "0.1",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    log = (tmp_path / "gunicorn.log").open("w")
    process = subprocess.Popen(
        request.param(f"127.0.0.1:{port}"), cwd=ROOT, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(f"{base}/healthz", timeout=5).ok
        except requests.RequestException:
            return False

    try:
        wait_for(up, timeout=60)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def chunks(body, size=1000):
    """A body requests sends chunked: a generator has no length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def post_chunked(url, body, content_type, headers):
    return requests.post(
        url, data=chunks(body), headers={**headers, "Content-Type": content_type}, timeout=60
    )


# --- 21.15 Chunked bodies -----------------------------------------------------------------


def test_chunked_bodies_are_read_on_every_endpoint(server, member):
    _, secret = make_key(member)
    gen = json.dumps(
        {"model": "google/gempix2", "prompt": "chunked", "images": [data_uri("red")]}
    ).encode()
    openai_gen = json.dumps({"prompt": "chunked", "response_format": "url"}).encode()
    form, form_type = encode_multipart_formdata(
        [
            ("prompt", "chunked"),
            ("response_format", "url"),
            ("image", ("a.png", png_bytes("blue"), "image/png")),
        ]
    )

    provider = post_chunked(f"{server}/api/image/gen", gen, "application/json", bearer(secret))
    generated = post_chunked(
        f"{server}/v1/images/generations", openai_gen, "application/json", bearer(secret)
    )
    edited = post_chunked(f"{server}/v1/images/edits", form, form_type, bearer(secret))

    assert provider.request.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in provider.request.headers
    assert provider.status_code == 200, provider.text
    task_id = provider.json()["data"]["task_id"]
    assert Generation.objects.get(pk=task_id).references.count() == 1
    assert generated.status_code == 200, generated.text
    assert edited.status_code == 200, edited.text
    assert requests.get(edited.json()["data"][0]["url"], timeout=10).status_code == 200


def test_chunked_bodies_keep_the_size_limits(server, member, settings):
    _, secret = make_key(member)
    anonymous = post_chunked(
        f"{server}/api/image/gen", b"x" * (2 * 1024 * 1024), "application/json", {}
    )
    with_key = post_chunked(
        f"{server}/v1/images/generations",
        json.dumps({"prompt": "x" * (2 * 1024 * 1024)}).encode(),
        "application/json",
        bearer(secret),
    )

    assert anonymous.status_code == 413  # past the anonymous limit, refused while reading
    assert with_key.status_code == 413  # past the generations call's own 1 MB
    assert with_key.json()["error"]["code"] == "request_too_large"
    assert Generation.objects.count() == 0


# --- The official openai package for Node ---------------------------------------------------


def _unavailable(reason):
    if REQUIRED:
        pytest.fail(f"the openai Node package is required here but {reason}")
    pytest.skip(reason)


def installed_node_client():
    """tests/openai_node with its node_modules, installed by `npm ci` once per lock file."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        _unavailable("node or npm is not installed (apt-get install nodejs npm)")
    files = ("package.json", "package-lock.json", "client.mjs")
    digest = hashlib.sha256(b"".join((NODE_CLIENT / f).read_bytes() for f in files)).hexdigest()
    cache = Path(os.environ.get("BANANA_TEST_CACHE", ROOT / "var" / "test-cache"))
    target = cache / f"openai-node-{digest[:16]}"
    if (target / "node_modules" / "openai").is_dir():
        return node, target
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="openai-node-", dir=cache))
    for name in files:
        shutil.copy(NODE_CLIENT / name, staging / name)
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
        _unavailable(f"npm ci of the openai package failed: {result.stderr[-2000:]}")
    try:
        staging.rename(target)
    except OSError:  # another run installed it meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    return node, target


@pytest.mark.parametrize("server", [production_command], ids=["gunicorn"], indirect=True)
def test_the_openai_node_package_edits_with_a_read_stream(server, member, tmp_path):
    node, folder = installed_node_client()
    _, secret = make_key(member)
    image = tmp_path / "soap.png"
    image.write_bytes(png_bytes("white", (64, 48)))

    done = subprocess.run(
        [node, str(folder / "client.mjs"), f"{server}/v1", secret, str(image)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    (url,) = result["edit_urls"]
    assert requests.get(url, timeout=10).status_code == 200
    assert len(result["generated_b64"]) == 2
    assert "google/gempix2" in result["models"]
    edit = Generation.objects.get(owner=member, prompt="Put it in a basket")
    assert edit.references.get().width == 64


# --- The exact requests of Open WebUI and LibreChat -----------------------------------------


def replay(server, secret, name):
    """A recorded request (tests/fixtures/clients/<name>.json): method, path, headers and
    JSON body as the client sends them, with our key in place of theirs."""
    recorded = json.loads((CLIENT_FIXTURES / f"{name}.json").read_text())
    headers = {**recorded["headers"], "Authorization": f"Bearer {secret}"}
    return requests.request(
        recorded["method"],
        server + recorded["path"],
        data=json.dumps(recorded["body"]).encode(),
        headers=headers,
        timeout=120,
    )


@pytest.mark.parametrize("server", [production_command], ids=["gunicorn"], indirect=True)
def test_open_webui_with_a_blank_model_gets_b64_images(server, member):
    _, secret = make_key(member)

    answer = replay(server, secret, "open-webui-generate")

    assert answer.status_code == 200, answer.text
    (image,) = answer.json()["data"]
    assert base64.b64decode(image["b64_json"]).startswith(b"\x89PNG")
    assert Generation.objects.get(owner=member).model == "google/gempix2"


@pytest.mark.parametrize("server", [production_command], ids=["gunicorn"], indirect=True)
def test_librechat_dall_e_3_tool_reads_data_0_url(server, member):
    _, secret = make_key(member)

    answer = replay(server, secret, "librechat-dalle3")

    assert answer.status_code == 200, answer.text
    url = answer.json()["data"][0]["url"]
    fetched = requests.get(url, timeout=10)
    assert fetched.headers["Content-Type"] == "image/png"


@pytest.mark.parametrize("server", [production_command], ids=["gunicorn"], indirect=True)
def test_librechat_image_gen_with_webp_gets_webp_bytes(server, member):
    _, secret = make_key(member)

    answer = replay(server, secret, "librechat-gpt-image-webp")

    assert answer.status_code == 200, answer.text
    content = base64.b64decode(answer.json()["data"][0]["b64_json"])
    assert content[:4] == b"RIFF" and content[8:12] == b"WEBP"
