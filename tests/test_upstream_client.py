"""Tests of generations.upstream over real HTTP against the in-process emulator."""

from __future__ import annotations

import json
import logging
import pickle
import random
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from emulator import Emulator, EmulatorConfig
from generations import upstream

FIXTURES = Path(__file__).parent / "fixtures" / "upstream"
API_KEY = "dk-test0000000000"
WRONG_KEY = "dk-wrong999999999"
MAX_RETRIES = 3


def load_fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def emu():
    emulator = Emulator(
        EmulatorConfig(
            api_key=API_KEY,
            pending_seconds=0,
            submitted_seconds=0,
            in_progress_seconds=0,
            error_500_rate=0.0,
            drop_submit_response=False,
            latency_seconds=0.0,
            callback_mode="none",
            seed=1234,
        ),
        host="127.0.0.1",
        port=0,
    ).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def api(settings, emu):
    settings.BANANA_API_BASE_URL = emu.base_url
    settings.BANANA_API_KEY = API_KEY
    settings.BANANA_API_TIMEOUT = (2, 5)
    settings.BANANA_API_MAX_RETRIES = MAX_RETRIES
    settings.BANANA_API_BACKOFF = 0.001
    return emu


@dataclass
class Reply:
    """One scripted answer. ``drop``: close the connection without answering;
    ``stall``: never answer (until the test ends), so the client's read timeout fires."""

    status: int = 200
    body: dict | None = None
    headers: dict = field(default_factory=dict)
    drop: bool = False
    stall: bool = False


class ScriptedUpstream:
    """A loopback HTTP server that answers request n with script[n] (the last reply repeats)
    and records every request it received, as (method, path without query)."""

    def __init__(self) -> None:
        self.script: list[Reply] = [Reply()]
        self.received: list[tuple[str, str]] = []
        self.connections = 0
        self.release = threading.Event()  # ends stalled requests at teardown
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.server = ThreadingHTTPServer(
            ("127.0.0.1", 0), self._handler_class(), bind_and_activate=False
        )
        self.server.daemon_threads = True
        self.server.server_bind()  # bound but not listening: connections are refused

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for _, received_path in self.received if received_path == path)

    def listen(self) -> None:
        """From now on connections are accepted and answered."""
        self.server.server_activate()
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.server_close()

    def _next_reply(self, method: str, path: str) -> Reply:
        with self._lock:
            self.received.append((method, path.partition("?")[0]))
            return self.script[min(len(self.received), len(self.script)) - 1]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        upstream_server = self

        class Handler(BaseHTTPRequestHandler):
            def setup(self) -> None:
                with upstream_server._lock:
                    upstream_server.connections += 1
                super().setup()

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer()

            def _answer(self) -> None:
                reply = upstream_server._next_reply(self.command, self.path)
                if reply.stall:
                    upstream_server.release.wait()
                    self.close_connection = True
                    return
                if reply.drop:
                    self.close_connection = True
                    return
                payload = json.dumps(reply.body or {}).encode()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format, *args) -> None:
                pass

        return Handler


SUBMITTED_REPLY = Reply(body={"code": 0, "message": "ok", "data": {"task_id": "ta-1"}})
PENDING_REPLY = Reply(
    body={"code": 0, "message": "ok", "data": {"task_id": "ta-1", "status": "pending"}}
)
SERVER_ERROR = Reply(status=500, body={"code": 500, "message": "internal server error"})
STALL = Reply(stall=True)
DROP = Reply(drop=True)


@pytest.fixture
def scripted(settings):
    """A scripted upstream that refuses connections until ``listen()`` is called."""
    server = ScriptedUpstream()
    settings.BANANA_API_BASE_URL = server.base_url
    settings.BANANA_API_KEY = API_KEY
    settings.BANANA_API_TIMEOUT = (2, 5)
    settings.BANANA_API_MAX_RETRIES = MAX_RETRIES
    settings.BANANA_API_BACKOFF = 0.001
    yield server
    server.stop()


@pytest.fixture
def listening(scripted):
    scripted.listen()
    return scripted


class RetryAnnouncements(logging.Handler):
    """Counts the retries the client announces; optionally runs an action at the n-th."""

    def __init__(self, at: int = 0, action=None) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.at = at
        self.action = action

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().endswith("; retrying"):
            self.count += 1
            if self.count == self.at and self.action is not None:
                self.action()


@pytest.fixture
def announcements(caplog):
    caplog.set_level(logging.DEBUG, logger="generations.upstream")
    handlers: list[RetryAnnouncements] = []
    client_log = logging.getLogger("generations.upstream")

    def attach(at: int = 0, action=None) -> RetryAnnouncements:
        handler = RetryAnnouncements(at, action)
        client_log.addHandler(handler)
        handlers.append(handler)
        return handler

    yield attach
    for handler in handlers:
        client_log.removeHandler(handler)


def call(endpoint: str):
    """Call one endpoint of the client the way the rest of the project does."""
    if endpoint == "submit":
        return upstream.submit(model="google/gempix2", prompt="a banana")
    return upstream.query("ta-1")


ENDPOINT_PATHS = {"submit": upstream.SUBMIT_PATH, "query": upstream.QUERY_PATH}
ENDPOINT_SUCCESS = {"submit": SUBMITTED_REPLY, "query": PENDING_REPLY}


def assert_key_hidden(exc: BaseException, key: str, caplog=None) -> None:
    assert key not in str(exc)
    assert key not in repr(exc)
    assert all(key not in str(arg) for arg in exc.args)
    assert key not in str(getattr(exc, "user_message", ""))
    assert key not in repr(vars(exc))
    if caplog is not None:
        assert key not in caplog.text
        for record in caplog.records:
            assert key not in record.getMessage()


def wait_for_final(task_id: str, timeout: float = 10.0) -> upstream.TaskState:
    deadline = time.monotonic() + timeout
    while True:
        state = upstream.query(task_id)
        if state.is_final or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


# ------------------------------------------------------------------------------- submit
@pytest.mark.parametrize("fixture", ["gen-request-basic.json", "gen-request-references.json"])
def test_submit_returns_task_id_for_vendor_example_bodies(api, fixture):
    body = load_fixture(fixture)

    task_id = upstream.submit(**body)

    assert task_id.startswith("ta")
    assert task_id in api.tasks
    assert api.submit_count == 1
    task = api.tasks[task_id]
    assert task["model"] == body["model"]
    assert task["prompt"] == body["prompt"]
    assert task["images"] == body.get("images", [])
    assert task["callback_url"] == body.get("callback_url")


def test_submit_sends_optional_image_parameters(api):
    task_id = upstream.submit(
        model="google/gempix2", prompt="a banana", aspect_ratio="16:9", image_size="2K"
    )

    task = api.tasks[task_id]
    assert task["aspect_ratio"] == "16:9"
    assert task["image_size"] == "2k"


def test_submit_400_raises_bad_request_with_detail_without_retry(api):
    with pytest.raises(upstream.BadRequest) as excinfo:
        upstream.submit(model="google/no-such-model", prompt="a banana")

    assert "unknown model" in excinfo.value.detail
    assert excinfo.value.permanent is True
    assert excinfo.value.status_code == 400
    assert api.submit_count == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": "google/gempix2", "prompt": "   "},
        {"model": "", "prompt": "a banana"},
        {"model": "google/gempix2", "prompt": "a banana", "images": ["https://x.test/a.png"] * 5},
        {"model": "google/gempix2", "prompt": "a banana", "images": ["ftp://x.test/a.png"]},
        {"model": "google/gempix2", "prompt": "a banana", "aspect_ratio": "7:3"},
        {"model": "google/gempix2", "prompt": "a banana", "image_size": "8k"},
    ],
)
def test_invalid_submit_parameters_raise_bad_request_without_network_call(api, kwargs):
    with pytest.raises(upstream.BadRequest) as excinfo:
        upstream.submit(**kwargs)

    assert excinfo.value.permanent is True
    assert str(excinfo.value.user_message)
    assert api.submit_count == 0


def test_submit_with_wrong_key_raises_unauthorized_and_hides_key(api, settings, caplog):
    settings.BANANA_API_KEY = WRONG_KEY
    caplog.set_level(logging.DEBUG)

    with pytest.raises(upstream.Unauthorized) as excinfo:
        upstream.submit(model="google/gempix2", prompt="a banana")

    assert excinfo.value.permanent is True
    assert api.submit_count == 1
    assert any(r.name == "generations.upstream" for r in caplog.records)
    assert_key_hidden(excinfo.value, WRONG_KEY, caplog)
    assert_key_hidden(excinfo.value, API_KEY, caplog)


def test_query_with_wrong_key_raises_unauthorized_and_hides_key(api, settings, caplog):
    task_id = upstream.submit(model="google/gempix2", prompt="a banana")
    settings.BANANA_API_KEY = WRONG_KEY
    caplog.set_level(logging.DEBUG)

    with pytest.raises(upstream.Unauthorized) as excinfo:
        upstream.query(task_id)

    assert api.query_count(task_id) == 1
    assert_key_hidden(excinfo.value, WRONG_KEY, caplog)


# ------------------------------------------------------------------------- retry policy
def test_submit_500_is_retried_then_succeeds(scripted):
    scripted.script = [SERVER_ERROR, SERVER_ERROR, SUBMITTED_REPLY]
    scripted.listen()

    task_id = upstream.submit(model="google/gempix2", prompt="a banana")

    assert task_id == "ta-1"
    assert scripted.count(upstream.SUBMIT_PATH) == 3


def test_submit_keeps_getting_500_raises_unavailable_after_all_retries(api, caplog):
    api.config.error_500_rate = 1.0

    with pytest.raises(upstream.Unavailable) as excinfo:
        upstream.submit(model="google/gempix2", prompt="a banana")

    assert not isinstance(excinfo.value, upstream.SubmitOutcomeUnknown)
    assert excinfo.value.permanent is False
    assert excinfo.value.status_code == 500
    assert api.submit_count == 1 + MAX_RETRIES
    assert_key_hidden(excinfo.value, API_KEY, caplog)


def test_query_500_is_retried_then_succeeds(scripted):
    scripted.script = [SERVER_ERROR] * MAX_RETRIES + [PENDING_REPLY]
    scripted.listen()

    state = upstream.query("ta-1")

    assert state.task_id == "ta-1"
    assert scripted.count(upstream.QUERY_PATH) == 1 + MAX_RETRIES


def test_max_retries_setting_is_read_at_call_time(listening, settings):
    listening.script = [SERVER_ERROR]
    settings.BANANA_API_MAX_RETRIES = 1

    with pytest.raises(upstream.Unavailable):
        upstream.submit(model="google/gempix2", prompt="a banana")
    settings.BANANA_API_MAX_RETRIES = 0
    with pytest.raises(upstream.Unavailable):
        upstream.query("ta-1")

    assert listening.count(upstream.SUBMIT_PATH) == 2
    assert listening.count(upstream.QUERY_PATH) == 1


@pytest.mark.parametrize("endpoint", ["submit", "query"])
@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 429])
def test_4xx_is_never_retried(listening, endpoint, status):
    listening.script = [Reply(status=status, body={"code": 1, "message": "no"})]

    with pytest.raises(upstream.UpstreamError):
        call(endpoint)

    assert listening.count(ENDPOINT_PATHS[endpoint]) == 1


def test_429_with_retry_after_is_unavailable_and_not_retried(listening):
    listening.script = [Reply(status=429, body={"code": 1}, headers={"Retry-After": "1"})]

    with pytest.raises(upstream.Unavailable) as excinfo:
        upstream.query("ta-1")

    assert excinfo.value.permanent is False
    assert excinfo.value.status_code == 429
    assert listening.count(upstream.QUERY_PATH) == 1


@pytest.mark.parametrize("endpoint", ["submit", "query"])
def test_redirects_are_not_followed(listening, endpoint):
    listening.script = [Reply(status=302, headers={"Location": "/elsewhere"})]

    with pytest.raises(upstream.Unavailable) as excinfo:
        call(endpoint)

    assert excinfo.value.status_code == 302
    assert listening.received == [
        ("POST" if endpoint == "submit" else "GET", ENDPOINT_PATHS[endpoint])
    ]


def test_submit_read_timeout_is_not_resent(listening, settings, caplog):
    settings.BANANA_API_TIMEOUT = (2, 0.2)
    listening.script = [STALL, SUBMITTED_REPLY]

    with pytest.raises(upstream.SubmitOutcomeUnknown) as excinfo:
        upstream.submit(model="google/gempix2", prompt="a banana")

    assert excinfo.value.permanent is True
    assert listening.count(upstream.SUBMIT_PATH) == 1
    assert_key_hidden(excinfo.value, API_KEY, caplog)


def test_lost_submit_response_raises_outcome_unknown_and_is_sent_once(api, caplog):
    api.config.drop_submit_response = True

    with pytest.raises(upstream.SubmitOutcomeUnknown) as excinfo:
        upstream.submit(model="google/gempix2", prompt="a banana")

    assert isinstance(excinfo.value, upstream.Unavailable)
    assert api.submit_count == 1
    assert len(api.tasks) == 1  # the upstream did create (and would bill) the task
    assert "127.0.0.1" not in str(excinfo.value.user_message)
    assert_key_hidden(excinfo.value, API_KEY, caplog)


def test_submit_dropped_connection_is_not_resent(listening):
    listening.script = [DROP, SUBMITTED_REPLY]

    with pytest.raises(upstream.SubmitOutcomeUnknown):
        upstream.submit(model="google/gempix2", prompt="a banana")

    assert listening.count(upstream.SUBMIT_PATH) == 1


def test_submit_read_timeout_after_a_connect_retry_is_not_resent(scripted, settings, announcements):
    settings.BANANA_API_TIMEOUT = (2, 0.2)
    scripted.script = [STALL, SUBMITTED_REPLY]
    announcements(at=1, action=scripted.listen)

    with pytest.raises(upstream.SubmitOutcomeUnknown):
        upstream.submit(model="google/gempix2", prompt="a banana")

    assert scripted.count(upstream.SUBMIT_PATH) == 1


def test_query_read_timeout_is_retried_then_succeeds(listening, settings):
    settings.BANANA_API_TIMEOUT = (2, 0.1)
    listening.script = [STALL, STALL, PENDING_REPLY]

    state = upstream.query("ta-1")

    assert state.status == upstream.PENDING
    assert listening.count(upstream.QUERY_PATH) == 3


def test_query_read_timeout_is_retried_until_the_retries_are_spent(api, settings):
    task_id = upstream.submit(model="google/gempix2", prompt="a banana")
    settings.BANANA_API_TIMEOUT = (2, 0.1)
    api.config.latency_seconds = 0.3

    with pytest.raises(upstream.Unavailable) as excinfo:
        upstream.query(task_id)

    assert not isinstance(excinfo.value, upstream.SubmitOutcomeUnknown)
    assert excinfo.value.permanent is False
    assert api.query_count(task_id) == 1 + MAX_RETRIES


def test_query_dropped_connection_is_retried_then_succeeds(listening):
    listening.script = [DROP, DROP, PENDING_REPLY]

    state = upstream.query("ta-1")

    assert state.task_id == "ta-1"
    assert listening.count(upstream.QUERY_PATH) == 3


def test_submit_tls_failure_is_not_resent(listening, settings):
    # The client speaks TLS to a plain HTTP server: the handshake fails once connected.
    settings.BANANA_API_BASE_URL = listening.base_url.replace("http://", "https://")

    with pytest.raises(upstream.SubmitOutcomeUnknown):
        upstream.submit(model="google/gempix2", prompt="a banana")

    assert listening.connections == 1


def test_query_tls_failure_is_retried(listening, settings):
    settings.BANANA_API_BASE_URL = listening.base_url.replace("http://", "https://")

    with pytest.raises(upstream.Unavailable) as excinfo:
        upstream.query("ta-1")

    assert excinfo.value.permanent is False
    assert listening.connections == 1 + MAX_RETRIES


@pytest.mark.parametrize("endpoint", ["submit", "query"])
def test_connection_refused_is_retried_until_the_upstream_listens(
    scripted, announcements, endpoint
):
    scripted.script = [ENDPOINT_SUCCESS[endpoint]]
    # The upstream starts listening when the client announces its last allowed retry.
    announcements(at=MAX_RETRIES, action=scripted.listen)

    assert call(endpoint)

    assert scripted.count(ENDPOINT_PATHS[endpoint]) == 1


@pytest.mark.parametrize("endpoint", ["submit", "query"])
def test_connection_refused_is_retried_max_retries_times_then_unavailable(
    scripted, announcements, caplog, endpoint
):
    caplog.set_level(logging.DEBUG)
    retries = announcements()

    with pytest.raises(upstream.Unavailable) as excinfo:
        call(endpoint)

    assert not isinstance(excinfo.value, upstream.SubmitOutcomeUnknown)
    assert excinfo.value.permanent is False
    assert retries.count == MAX_RETRIES
    assert "127.0.0.1" not in str(excinfo.value.user_message)
    assert "refused" not in str(excinfo.value.user_message).lower()
    assert_key_hidden(excinfo.value, API_KEY, caplog)


def test_backoff_is_full_jitter_doubling_from_the_base_up_to_the_cap(
    listening, settings, monkeypatch
):
    """Retry n waits uniform(0, min(cap, base * 2 ** (n - 1))); this test draws the top of
    each range and records the sleeps instead of sleeping."""
    listening.script = [SERVER_ERROR]
    settings.BANANA_API_BACKOFF = 8.0  # ranges: 8, 16, then 32 capped at 20
    draws: list[tuple[float, float]] = []
    sleeps: list[float] = []

    def draw_the_top(low: float, high: float) -> float:
        draws.append((low, high))
        return high

    monkeypatch.setattr(random, "uniform", draw_the_top)
    monkeypatch.setattr(time, "sleep", sleeps.append)

    with pytest.raises(upstream.Unavailable):
        upstream.submit(model="google/gempix2", prompt="a banana")

    assert draws == [(0, 8.0), (0, 16.0), (0, upstream.MAX_BACKOFF_SECONDS)]
    assert sleeps == [8.0, 16.0, upstream.MAX_BACKOFF_SECONDS]
    assert listening.count(upstream.SUBMIT_PATH) == 1 + MAX_RETRIES


def test_retry_after_header_is_ignored(listening, settings, monkeypatch):
    listening.script = [Reply(status=503, headers={"Retry-After": "30"}), SUBMITTED_REPLY]
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)

    assert upstream.submit(model="google/gempix2", prompt="a banana") == "ta-1"

    assert len(sleeps) == 1
    assert sleeps[0] <= settings.BANANA_API_BACKOFF
    assert listening.count(upstream.SUBMIT_PATH) == 2


def test_missing_key_raises_unauthorized_without_network_call(api, settings):
    settings.BANANA_API_KEY = ""

    with pytest.raises(upstream.Unauthorized):
        upstream.submit(model="google/gempix2", prompt="a banana")

    assert api.submit_count == 0


# -------------------------------------------------------------------------------- query
def test_query_walks_to_success_and_parses_images_and_consumed(api):
    api.config.pending_seconds = 0.2
    api.config.in_progress_seconds = 0.2
    task_id = upstream.submit(model="google/gempix2", prompt="a banana")

    first = upstream.query(task_id)
    assert first.task_id == task_id
    assert first.status == upstream.PENDING
    assert not first.is_final
    assert first.images == ()

    state = wait_for_final(task_id)

    assert state.status == upstream.SUCCESS
    assert state.is_final
    assert state.raw_status == "success"
    assert len(state.images) == 1
    assert state.images[0].startswith(api.base_url + "/files/")
    assert state.consumed == Decimal("0.500000")
    assert state.error_message == ""


def test_query_unknown_task_raises_task_not_found(api):
    with pytest.raises(upstream.TaskNotFound) as excinfo:
        upstream.query("ta00000000-0000-0000-0000-000000000000")

    assert excinfo.value.status_code == 404
    assert api.query_count("ta00000000-0000-0000-0000-000000000000") == 1


def test_query_right_after_submit_may_raise_task_not_found(api):
    api.config.not_found_seconds = 30
    task_id = upstream.submit(model="google/gempix2", prompt="a banana")

    with pytest.raises(upstream.TaskNotFound):
        upstream.query(task_id)


def test_query_returns_data_uri_results(api):
    api.config.result_as_data_uri = True
    task_id = upstream.submit(model="google/gempix2", prompt="a banana")

    state = wait_for_final(task_id)

    assert state.status == upstream.SUCCESS
    assert state.images[0].startswith("data:image/png;base64,")


def test_query_text_result_is_failed_with_text_as_message(api):
    api.config.text_result_rate = 1.0
    task_id = upstream.submit(model="google/gempix2", prompt="a banana")

    state = wait_for_final(task_id)

    assert state.status == upstream.FAILED
    assert state.raw_status == "success"
    assert state.is_final
    assert state.images == ()
    assert "a banana" in state.error_message


def test_query_failed_task_has_reason_as_message(api):
    api.config.pending_seconds = 60
    task_id = upstream.submit(model="google/gempix2", prompt="a banana")
    api.finish(task_id, status="failed", message="Blocked by the safety filter.")

    state = upstream.query(task_id)

    assert state.status == upstream.FAILED
    assert state.error_message == "Blocked by the safety filter."
    assert state.images == ()


def test_query_unknown_status_is_not_final_and_keeps_raw_status(api, caplog):
    api.config.pending_seconds = 60
    task_id = upstream.submit(model="google/gempix2", prompt="a banana")
    api.set_status(task_id, "waiting_for_capacity")

    with caplog.at_level(logging.WARNING, logger="generations.upstream"):
        state = upstream.query(task_id)

    assert state.status == upstream.SUBMITTED
    assert state.raw_status == "waiting_for_capacity"
    assert not state.is_final
    assert "waiting_for_capacity" in caplog.text


def test_query_with_empty_task_id_raises_bad_request_without_network_call(api):
    with pytest.raises(upstream.BadRequest):
        upstream.query("  ")

    assert api.query_count() == 0


# ------------------------------------------------------------------------ parsing only
def test_parse_callback_fixture():
    state = upstream.parse_task_state(load_fixture("callback-success.json"))

    assert state == upstream.TaskState(
        task_id="ta5c9705-b8ae-4cb9-aa6f-97c4fee88c8d",
        status=upstream.SUCCESS,
        raw_status="success",
        images=(
            "https://google.datas.systems/fileSystem/response_images/287/2025/08/29/"
            "1756432513771985292_2989.png",
        ),
        consumed=Decimal("0.500000"),
        error_message="",
    )
    assert state.is_final


def test_parse_consumed_as_number():
    data = {**load_fixture("callback-success.json"), "consumed": 0.5}

    assert upstream.parse_task_state(data).consumed == Decimal("0.5")


@pytest.mark.parametrize("consumed", [None, "", "abc", True, [], "NaN", "-1"])
def test_parse_unusable_consumed_is_none(consumed):
    data = {**load_fixture("callback-success.json"), "consumed": consumed}

    assert upstream.parse_task_state(data).consumed is None


def test_parse_failed_with_null_result_and_reason():
    data = {
        "task_id": "ta1",
        "status": "failed",
        "result": None,
        "consumed": "0.000000",
        "status_reason": {"message": "Generation timed out."},
    }

    state = upstream.parse_task_state(data)

    assert state.status == upstream.FAILED
    assert state.images == ()
    assert state.consumed == Decimal("0")
    assert state.error_message == "Generation timed out."


def test_parse_in_progress_without_result_or_status_reason():
    state = upstream.parse_task_state({"task_id": "ta1", "status": "in_progress"})

    assert state.status == upstream.IN_PROGRESS
    assert state.images == ()
    assert state.consumed is None
    assert state.error_message == ""
    assert not state.is_final


def test_parse_ignores_unknown_fields_and_normalises_status():
    data = {
        **load_fixture("callback-success.json"),
        "status": "  SUCCESS ",
        "created_at": "2025-08-29T01:55:13Z",
        "progress": 100,
        "status_reason": None,
    }

    state = upstream.parse_task_state(data)

    assert state.status == upstream.SUCCESS
    assert state.raw_status == "  SUCCESS "
    assert len(state.images) == 1


def test_parse_success_with_text_only_is_failed():
    data = {
        "task_id": "ta1",
        "status": "success",
        "result": [{"text": "I cannot draw that."}],
        "consumed": "0.500000",
        "status_reason": {"message": None},
    }

    state = upstream.parse_task_state(data)

    assert state.status == upstream.FAILED
    assert state.error_message == "I cannot draw that."
    assert state.consumed == Decimal("0.500000")


def test_parse_keeps_image_order_and_drops_unsafe_schemes():
    data = {
        "task_id": "ta1",
        "status": "success",
        "result": [
            {"image": "https://a.test/1.png"},
            {"image": "javascript:alert(1)"},
            {"image": "data:image/png;base64,AAAA"},
            {"other": "x"},
        ],
    }

    state = upstream.parse_task_state(data)

    assert state.images == ("https://a.test/1.png", "data:image/png;base64,AAAA")


def test_parse_unknown_status_is_submitted_and_not_final():
    state = upstream.parse_task_state({"task_id": "ta1", "status": "post_processing"})

    assert state.status == upstream.SUBMITTED
    assert state.raw_status == "post_processing"
    assert not state.is_final


@pytest.mark.parametrize(
    "garbage",
    [None, "success", 42, ["task_id", "status"], {"status": "success"}, {"task_id": "ta1"}],
)
def test_parse_garbage_raises_unavailable(garbage):
    with pytest.raises(upstream.Unavailable):
        upstream.parse_task_state(garbage)


def test_errors_survive_pickling_with_their_attributes():
    exc = upstream.BadRequest("x", detail="prompt is required", status_code=400)

    clone = pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own object

    assert type(clone) is upstream.BadRequest
    assert clone.detail == "prompt is required"
    assert clone.status_code == 400
    assert clone.permanent is True


def test_malformed_key_raises_unauthorized_locally_and_stays_hidden(api, settings, caplog):
    bad_key = "dk-test0000000000\r\nX-Injected: 1"
    settings.BANANA_API_KEY = bad_key

    with pytest.raises(upstream.Unauthorized) as excinfo:
        upstream.query("ta1")

    assert api.query_count() == 0
    assert_key_hidden(excinfo.value, bad_key, caplog)
    assert_key_hidden(excinfo.value, "dk-test0000000000", caplog)
