"""Tests for the upstream emulator, over real HTTP. Run: pytest emulator -p no:django"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from PIL import Image

from emulator import Emulator, EmulatorConfig

KEY = "dk-devlocalemulator0"
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "upstream"
TASK_ID = re.compile(r"^ta[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def http():
    with requests.Session() as s:
        s.trust_env = False  # never route loopback traffic through a proxy
        yield s


@pytest.fixture
def emu():
    cfg = EmulatorConfig(pending_seconds=0, submitted_seconds=0, in_progress_seconds=0, seed=7)
    with Emulator(cfg) as e:
        yield e


class Hook:
    """A tiny callback receiver."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, dict]] = []
        self.cond = threading.Condition()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with hook.cond:
                    hook.received.append((json.loads(body), dict(self.headers)))
                    hook.cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def wait(self, n: int, timeout: float = 5.0) -> list[dict]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.received) >= n, timeout)
            return [payload for payload, _ in self.received]


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.server.shutdown()
    h.server.server_close()


def submit(http, emu, body, key=KEY):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return http.post(f"{emu.base_url}/api/image/gen", json=body, headers=headers, timeout=10)


def query(http, emu, task_id, key=KEY):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return http.get(
        f"{emu.base_url}/api/task/query", params={"task_id": task_id}, headers=headers, timeout=10
    )


def submit_ok(http, emu, body) -> str:
    r = submit(http, emu, body)
    assert r.status_code == 200, r.text
    return r.json()["data"]["task_id"]


def wait_final(http, emu, task_id, timeout=5.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = query(http, emu, task_id)
        if r.status_code == 200 and r.json()["data"]["status"] in ("success", "failed"):
            return r.json()["data"]
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} not final")


def png_from(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    img.load()
    return img


def tiny_png(colour=(255, 0, 0)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 40), colour).save(out, format="PNG")
    return out.getvalue()


BASIC = {"model": "google/gempix2", "prompt": "A cat"}


# --------------------------------------------------------------------------- submit
def test_vendor_basic_example_accepted(http, emu):
    r = submit(http, emu, fixture("gen-request-basic.json"))
    assert r.status_code == 200
    body = r.json()
    assert body["code"] == 0 and body["message"] == "ok"
    assert set(body) == set(fixture("gen-response-ok.json"))
    assert TASK_ID.match(body["data"]["task_id"])
    assert TASK_ID.match(fixture("gen-response-ok.json")["data"]["task_id"])
    data = wait_final(http, emu, body["data"]["task_id"])
    assert data["status"] == "success"


def test_vendor_references_example_accepted_without_leaving_the_machine(http, emu):
    task_id = submit_ok(http, emu, fixture("gen-request-references.json"))
    data = wait_final(http, emu, task_id)
    assert data["status"] == "success"
    png_from(http.get(data["result"][0]["image"], timeout=5).content)
    record = emu.tasks[task_id]
    assert record["prompt"] == "Put them in a basket"
    assert len(record["images"]) == 2
    assert record["callback_url"] == "https://example.com/webhook/image-callback"
    deadline = time.monotonic() + 5
    while not emu.callbacks_sent and time.monotonic() < deadline:
        time.sleep(0.01)
    url, payload, outcome = emu.callbacks_sent[0]
    assert url == "https://example.com/webhook/image-callback"
    assert payload["task_id"] == task_id
    assert "skipped" in str(outcome)


def test_401_bodies_exact(http, emu):
    for key in (None, "dk-wrong"):
        r = submit(http, emu, BASIC, key=key)
        assert r.status_code == 401
        assert (
            r.json()
            == fixture("gen-response-401.json")
            == {
                "code": 1,
                "message": "Invalid API key",
            }
        )
        r = query(http, emu, "ta-whatever", key=key)
        assert r.status_code == 401
        assert (
            r.json()
            == fixture("query-response-401.json")
            == {
                "code": 401,
                "message": "Invalid API key",
            }
        )
    assert emu.submit_count == 2
    assert emu.tasks == {}


def test_missing_prompt_matches_vendor_400(http, emu):
    r = submit(http, emu, {"model": "google/gempix2"})
    assert r.status_code == 400
    assert r.json() == fixture("gen-response-400.json")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({**BASIC, "images": [f"https://127.0.0.1/{i}.png" for i in range(5)]}, "at most 4"),
        ({**BASIC, "images": ["ftp://x/y.png"]}, "images[0]"),
        ({**BASIC, "images": "https://127.0.0.1/a.png"}, "array"),
        ({**BASIC, "aspect_ratio": "7:5"}, "aspect_ratio"),
        ({**BASIC, "model": "google/gemini-2.5-flash-image", "image_size": "2k"}, "image_size"),
        ({**BASIC, "image_size": "8k"}, "image_size"),
        ({**BASIC, "model": "openai/dall-e"}, "unknown model"),
        ({"prompt": "x"}, "model is required"),
        ({**BASIC, "prompt": "   "}, "prompt"),
        ({**BASIC, "callback_url": "not a url"}, "callback_url"),
        ([BASIC], "JSON object"),
    ],
)
def test_validation_400(http, emu, body, needle):
    r = submit(http, emu, body)
    assert r.status_code == 400
    payload = r.json()
    assert payload["code"] == 1 and payload["message"] == "failed"
    assert needle in payload["detail"]
    assert emu.tasks == {}


def test_malformed_json(http, emu):
    r = http.post(
        f"{emu.base_url}/api/image/gen",
        data=b'{"model": "google/gempix2", "prompt": ',
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        timeout=5,
    )
    assert r.status_code == 400
    assert r.json()["code"] == 1 and r.json()["message"] == "failed"
    assert "malformed JSON" in r.json()["detail"]


def test_valid_options_and_extra_fields_accepted(http, emu):
    body = {
        **BASIC,
        "model": "google/nano-banana-pro",
        "aspect_ratio": "9:16",
        "image_size": "2K",
        "some_future_field": True,
    }
    task_id = submit_ok(http, emu, body)
    data = wait_final(http, emu, task_id)
    img = png_from(http.get(data["result"][0]["image"], timeout=5).content)
    assert img.size == (432, 768)


# ------------------------------------------------------------------------ progress
def test_progression_and_image(http, emu):
    emu.config.pending_seconds = emu.config.submitted_seconds = 0.25
    emu.config.in_progress_seconds = 0.25
    task_id = submit_ok(http, emu, {**BASIC, "aspect_ratio": "16:9"})
    seen: list[str] = []
    data = None
    polls = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        data = query(http, emu, task_id).json()["data"]
        polls += 1
        if not seen or seen[-1] != data["status"]:
            seen.append(data["status"])
        if data["status"] == "success":
            break
        assert data["result"] is None and data["consumed"] == "0.000000"
        time.sleep(0.03)
    assert seen == ["pending", "submitted", "in_progress", "success"]
    assert set(data) >= {"task_id", "status", "result", "consumed", "status_reason", "created_at"}
    assert data["consumed"] == "0.500000"
    assert data["status_reason"] == {"message": None}
    assert data["created_at"].endswith("Z")
    url = data["result"][0]["image"]
    assert url == f"{emu.base_url}/files/{task_id}/0.png"
    r = http.get(url, timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    assert png_from(r.content).size == (512, 288)
    assert emu.query_count(task_id) == emu.query_count() == polls


def test_data_uri_results_and_references(http, emu):
    emu.config.result_as_data_uri = True
    first = wait_final(http, emu, submit_ok(http, emu, BASIC))
    uri = first["result"][0]["image"]
    assert uri.startswith("data:image/png;base64,")
    assert png_from(base64.b64decode(uri.split(",", 1)[1])).size == (512, 512)

    # A data: URI reference and a loopback URL reference are both drawn into the strip.
    red = "data:image/png;base64," + base64.b64encode(tiny_png((255, 0, 0))).decode()
    blue = tiny_png((0, 0, 255))

    class Blue(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(blue)))
            self.end_headers()
            self.wfile.write(blue)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Blue)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
    try:
        refs = [red, f"http://127.0.0.1:{server.server_port}/blue.png", "data:image/png;base64,x"]
        data = wait_final(http, emu, submit_ok(http, emu, {**BASIC, "images": refs}))
    finally:
        server.shutdown()
        server.server_close()
    img = png_from(base64.b64decode(data["result"][0]["image"].split(",", 1)[1]))
    colours = {c for _, c in img.getcolors(maxcolors=1 << 20)}
    assert (255, 0, 0) in colours
    assert (0, 0, 255) in colours


def test_query_errors_and_unknown_paths(http, emu):
    r = query(http, emu, "ta00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404 and r.json() == fixture("query-response-404.json")
    r = http.get(
        f"{emu.base_url}/api/task/query", headers={"Authorization": f"Bearer {KEY}"}, timeout=5
    )
    assert r.status_code == 400 and "task_id" in r.json()["detail"]
    r = http.get(f"{emu.base_url}/nope", timeout=5)
    assert r.status_code == 404 and r.json() == {"code": 1, "message": "not found"}
    assert http.get(f"{emu.base_url}/files/tax/0.png", timeout=5).status_code == 404
    assert emu.query_count() == 2


def test_not_found_window(http, emu):
    emu.config.not_found_seconds = 0.3
    task_id = submit_ok(http, emu, BASIC)
    r = query(http, emu, task_id)
    assert r.status_code == 404 and r.json() == {"code": 1, "message": "task not found"}
    assert wait_final(http, emu, task_id)["status"] == "success"  # once the window is over


# ------------------------------------------------------------------------ outcomes
def test_failure(http, emu, hook):
    emu.config.failure_rate = 1.0
    task_id = submit_ok(http, emu, {**BASIC, "callback_url": hook.url})
    data = wait_final(http, emu, task_id)
    assert data["status"] == "failed"
    assert data["result"] is None and data["consumed"] == "0.000000"
    assert data["status_reason"]["message"]
    [payload] = hook.wait(1)
    assert payload == {
        "result": None,
        "status": "failed",
        "task_id": task_id,
        "consumed": "0.000000",
        "status_reason": {"message": data["status_reason"]["message"]},
    }


def test_text_result(http, emu):
    emu.config.text_result_rate = 1.0
    data = wait_final(http, emu, submit_ok(http, emu, BASIC))
    assert data["status"] == "success"
    assert "A cat" in data["result"][0]["text"]
    assert "image" not in data["result"][0]


def test_unknown_status(http, emu):
    emu.config.pending_seconds = 30
    emu.config.unknown_status_rate = 1.0
    task_id = submit_ok(http, emu, BASIC)
    status = query(http, emu, task_id).json()["data"]["status"]
    assert status not in ("pending", "submitted", "in_progress", "success", "failed")
    emu.config.unknown_status_rate = 0.0
    assert query(http, emu, task_id).json()["data"]["status"] == "pending"


def test_set_status_and_finish(http, emu, hook):
    emu.config.pending_seconds = 30
    task_id = submit_ok(http, emu, {**BASIC, "callback_url": hook.url})
    emu.set_status(task_id, "in_progress")
    assert query(http, emu, task_id).json()["data"]["status"] == "in_progress"
    payload = emu.finish(task_id, "failed", message="blocked by policy")
    assert payload["status_reason"] == {"message": "blocked by policy"}
    assert hook.wait(1)[0] == payload  # finish() delivers synchronously
    data = query(http, emu, task_id).json()["data"]
    assert data["status"] == "failed" and data["status_reason"]["message"] == "blocked by policy"
    emu.finish(task_id)
    assert query(http, emu, task_id).json()["data"]["status"] == "success"
    assert emu.status(task_id) == "success"


# ------------------------------------------------------------------------ callbacks
def test_callback_normal(http, emu, hook):
    task_id = submit_ok(http, emu, {**BASIC, "callback_url": hook.url})
    [payload] = hook.wait(1)
    assert list(payload) == list(fixture("callback-success.json"))
    assert payload["status"] == "success" and payload["task_id"] == task_id
    assert payload["consumed"] == "0.500000"
    assert payload["status_reason"] == {"message": None}
    assert payload["result"][0]["image"].endswith(f"/files/{task_id}/0.png")
    assert hook.received[0][1]["Content-Type"] == "application/json"
    deadline = time.monotonic() + 5  # the emulator records a callback once it was answered
    while not emu.callbacks_sent and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emu.callbacks_sent == [(hook.url, payload, 204)]  # one attempt, one delivery
    assert len(hook.received) == 1


def test_callback_none(http, emu, hook):
    emu.config.callback_mode = "none"
    wait_final(http, emu, submit_ok(http, emu, {**BASIC, "callback_url": hook.url}))
    # Callbacks are decided when a task becomes final: by now none was even scheduled.
    assert hook.received == [] and emu.callbacks_sent == []


def test_callback_duplicate(http, emu, hook):
    emu.config.callback_mode = "duplicate"
    emu.config.duplicate_callbacks = 3
    task_id = submit_ok(http, emu, {**BASIC, "callback_url": hook.url})
    payloads = hook.wait(3)
    assert len(payloads) == 3
    assert all(p["task_id"] == task_id and p["status"] == "success" for p in payloads)


def test_callback_before_response(http, emu, hook):
    emu.config.callback_mode = "before_response"
    emu.config.pending_seconds = 30  # ignored: the task is final at once
    task_id = submit_ok(http, emu, {**BASIC, "callback_url": hook.url})
    assert [p["task_id"] for p, _ in hook.received] == [task_id]  # already there
    assert query(http, emu, task_id).json()["data"]["status"] == "success"


# --------------------------------------------------------------------------- faults
def test_error_500(http, emu):
    emu.config.error_500_rate = 1.0
    for _ in range(4):
        assert submit(http, emu, BASIC).status_code == 500
    assert query(http, emu, "ta-x").status_code == 500
    assert emu.tasks == {} and emu.submit_count == 4
    emu.config.error_500_rate = 0.0
    submit_ok(http, emu, BASIC)


def test_drop_submit_response(http, emu):
    emu.config.drop_submit_response = True
    with pytest.raises(requests.ConnectionError):
        submit(http, emu, BASIC)
    assert emu.submit_count == 1
    [task_id] = emu.tasks
    emu.config.drop_submit_response = False
    assert wait_final(http, emu, task_id)["status"] == "success"


def test_latency(http, emu):
    emu.config.latency_seconds = 0.2
    start = time.monotonic()
    query(http, emu, "ta-x")
    assert time.monotonic() - start >= 0.2


def test_key_never_logged(http, emu, caplog):
    caplog.set_level(logging.DEBUG, logger="emulator")
    wait_final(http, emu, submit_ok(http, emu, BASIC))
    submit(http, emu, BASIC, key="dk-wrong-secret")
    assert caplog.records
    assert KEY not in caplog.text and "dk-wrong-secret" not in caplog.text


@pytest.mark.subprocess
def test_cli_starts_and_stops_on_sigterm(http):
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", "0", "--pending-seconds", "0", "-q"],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        r = http.post(
            f"{url}/api/image/gen", json=BASIC, headers={"Authorization": f"Bearer {KEY}"}
        )
        assert r.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -------------------------------------------------------------------------- memory
def bulk_request(i: int) -> dict:
    """What a submit stores for a task (the handler's validated request)."""
    return {
        "model": "google/gempix2",
        "prompt": f"banana number {i} " * 4,
        "images": [],
        "callback_url": None,
        "aspect_ratio": None,
        "image_size": None,
    }


def test_ten_thousand_tasks_keep_every_store_bounded_and_memory_flat(http, caplog):
    caplog.set_level(logging.WARNING, logger="emulator")  # captured records would pile up
    cfg = EmulatorConfig(
        pending_seconds=3600,  # the bulk never comes due: no rendering while we measure
        callback_mode="none",
        seed=3,
        max_tasks=300,
        max_images=10,
    )
    with Emulator(cfg) as emu:
        first = submit_ok(http, emu, BASIC)
        first_url = emu.finish(first)["result"][0]["image"]
        assert http.get(first_url, timeout=5).status_code == 200
        threads_before = threading.active_count()

        tracemalloc.start()
        try:
            for i in range(2_000):
                emu.create_task(bulk_request(i), emu.base_url)
            settled, _ = tracemalloc.get_traced_memory()
            for i in range(2_000, 10_000):
                emu.create_task(bulk_request(i), emu.base_url)
            grown = tracemalloc.get_traced_memory()[0] - settled
        finally:
            tracemalloc.stop()
        # 8,000 more tasks cost nothing lasting: only the newest 300 are kept.
        assert grown < 200_000, f"memory grew by {grown} bytes over 8,000 tasks"
        # One scheduler, not a timer thread per waiting task.
        assert threading.active_count() <= threads_before + 1

        recent = list(emu.tasks)[-25:]
        for task_id in recent:
            emu.finish(task_id)
        sizes = emu.store_sizes()
        assert sizes["tasks"] == sizes["task_meta"] == 300
        assert sizes["images"] == 10
        assert sizes["scheduled"] <= 2 * 300
        assert sizes["query_counts"] <= 300 and sizes["callbacks_sent"] <= 300

        newest = query(http, emu, recent[-1]).json()["data"]
        assert newest["status"] == "success"
        image = http.get(newest["result"][0]["image"], timeout=5)
        assert image.status_code == 200 and png_from(image.content).size == (512, 512)
        # The first task and its image were dropped long ago: clean 404s, as for any
        # unknown task or file.
        gone = http.get(first_url, timeout=5)
        assert gone.status_code == 404 and gone.json() == {"code": 1, "message": "not found"}
        assert query(http, emu, first).json() == fixture("query-response-404.json")
        # An image older than the newest ten is gone while its task is still known.
        oldest_kept = query(http, emu, recent[0]).json()["data"]
        assert http.get(oldest_kept["result"][0]["image"], timeout=5).status_code == 404


def test_images_are_kept_by_last_use(http, emu):
    emu.config.max_images = 2
    emu.config.pending_seconds = 3600  # rendered only when finished below
    a, b, c = (submit_ok(http, emu, {**BASIC, "prompt": p}) for p in "abc")
    url_a, url_b = (emu.finish(t)["result"][0]["image"] for t in (a, b))
    assert http.get(url_a, timeout=5).status_code == 200  # a is now the most recent use
    url_c = emu.finish(c)["result"][0]["image"]
    assert [http.get(u, timeout=5).status_code for u in (url_a, url_b, url_c)] == [200, 404, 200]


def test_query_counts_are_kept_for_as_many_ids_as_tasks(http, emu):
    emu.config.max_tasks = 5
    for i in range(20):
        assert query(http, emu, f"ta-unknown-{i}").status_code == 404
    assert emu.store_sizes()["query_counts"] == 5
    assert emu.query_count("ta-unknown-19") == 1 and emu.query_count() == 20
