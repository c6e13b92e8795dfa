"""A faithful fake of the upstream image-generation API (standard library + Pillow only).

See docs/upstream-api.md for the contract this mimics. Nothing here imports Django.
"""

from __future__ import annotations

import base64
import contextlib
import heapq
import itertools
import json
import logging
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter, OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .config import (
    ASPECT_RATIOS,
    IMAGE_SIZES,
    KNOWN_MODELS,
    MAX_REFERENCE_IMAGES,
    PRO_MODELS,
    EmulatorConfig,
)
from .render import host_allowed, local_opener, render_png

log = logging.getLogger("emulator")

FINAL_STATUSES = ("success", "failed")
UNKNOWN_STATUSES = ("queued_for_safety_review", "waiting_for_capacity", "post_processing")
FAILURE_REASONS = (
    "Content policy violation: the request was blocked by the safety filter.",
    "Generation timed out on the model backend.",
    "Reference image could not be downloaded.",
    "Upstream model returned no image.",
)
TEXT_ANSWERS = (
    "I can't create that image, but I can describe it: {prompt}",
    "Here is a description instead of an image: {prompt}",
)
MAX_BODY_BYTES = 64 * 1024 * 1024
CALLBACK_TIMEOUT = 5.0
FILE_PATH = re.compile(r"^/files/(?P<task>[A-Za-z0-9-]{1,80})/(?P<n>\d{1,3})\.png$")
ZERO = "0.000000"


# Tasks due at the same moment are finished (rendered, called back) by this many threads.
FINALIZERS = 4


@dataclass
class _Meta:
    """Private per-task machinery (kept out of the public task record)."""

    done: threading.Event = field(default_factory=threading.Event)
    generation: int = 0
    finalizing: bool = False


class _DropResponse(Exception):
    """Close the connection without writing a response."""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _is_http_url(value: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def validate_gen_request(body: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Return (clean request, None) or (None, detail for a 400)."""
    if not isinstance(body, dict):
        return None, "request body must be a JSON object"
    model = body.get("model")
    if model is None or model == "":
        return None, "model is required"
    if not isinstance(model, str):
        return None, "model must be a string"
    if model not in KNOWN_MODELS:
        return None, f"unknown model '{model}'; known models: {', '.join(KNOWN_MODELS)}"
    prompt = body.get("prompt")
    if prompt is None:
        return None, "prompt is required"
    if not isinstance(prompt, str):
        return None, "prompt must be a string"
    if not prompt.strip():
        return None, "prompt must not be empty"
    images = body.get("images")
    if images is None:
        images = []
    if not isinstance(images, list):
        return None, "images must be an array of strings"
    if len(images) > MAX_REFERENCE_IMAGES:
        return None, (
            f"images accepts at most {MAX_REFERENCE_IMAGES} reference images (got {len(images)})"
        )
    for i, ref in enumerate(images):
        if not isinstance(ref, str):
            return None, f"images[{i}] must be a string"
        if ref.startswith("data:"):
            if "," not in ref:
                return None, f"images[{i}] is not a valid data: URI"
        elif not _is_http_url(ref):
            return None, f"images[{i}] must be an http(s) URL or a data: URI"
    callback_url = body.get("callback_url")
    if callback_url is not None:
        if not isinstance(callback_url, str):
            return None, "callback_url must be a string"
        if callback_url == "":
            callback_url = None
        elif not _is_http_url(callback_url):
            return None, "callback_url must be an http(s) URL"
    aspect_ratio = body.get("aspect_ratio")
    if aspect_ratio is not None and aspect_ratio not in ASPECT_RATIOS:
        return None, f"aspect_ratio must be one of: {', '.join(ASPECT_RATIOS)}"
    image_size = body.get("image_size")
    if image_size is not None:
        if not isinstance(image_size, str) or image_size.lower() not in IMAGE_SIZES:
            return None, f"image_size must be one of: {', '.join(IMAGE_SIZES)}"
        image_size = image_size.lower()
        if model not in PRO_MODELS:
            return None, (
                f"image_size is only supported by the Pro-class models "
                f"({', '.join(PRO_MODELS)}), not by {model}"
            )
    return {
        "model": model,
        "prompt": prompt,
        "images": list(images),
        "callback_url": callback_url,
        "aspect_ratio": aspect_ratio,
        "image_size": image_size,
    }, None


class Emulator:
    """In-process fake upstream. `with Emulator(cfg) as emu:` starts and stops it."""

    def __init__(
        self, config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ):
        self.config = config if config is not None else EmulatorConfig()
        self.host = host
        self.port = port
        self._lock = threading.RLock()
        # Bounded stores (config.max_tasks, config.max_images): the oldest task and the
        # least recently served image go first, so memory stays flat however long it runs.
        self._tasks: dict[str, dict[str, Any]] = {}
        self._meta: dict[str, _Meta] = {}
        self._files: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        # When each task's final state is due: one scheduler thread, not a timer per task.
        self._due: list[tuple[float, int, str]] = []
        self._due_order = itertools.count()
        self._wake = threading.Condition(self._lock)
        self._scheduler: threading.Thread | None = None
        self._finalizers: ThreadPoolExecutor | None = None
        self._rng = random.Random(self.config.seed)
        self._query_counts: Counter[str] = Counter()
        self._query_total = 0
        self.submit_count = 0
        self.callbacks_sent: list[tuple[str, dict[str, Any], int | str]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> Emulator:
        if self._server is not None:
            return self
        server_cls = _Server6 if ":" in self.host else _Server
        server = server_cls((self.host, self.port), _Handler)
        server.emulator = self
        self._server = server
        self._finalizers = ThreadPoolExecutor(FINALIZERS, thread_name_prefix="emulator-final")
        self._scheduler = threading.Thread(
            target=self._run_scheduler, name="emulator-scheduler", daemon=True
        )
        self._scheduler.start()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"emulator-{self.base_url}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            with self._wake:
                self._wake.notify_all()
            scheduler.join(timeout=5)
        finalizers, self._finalizers = self._finalizers, None
        if finalizers is not None:
            finalizers.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("emulator is not running")
        host, port = self._server.server_address[:2]
        if ":" in str(host):
            host = f"[{host}]"
        return f"http://{host}:{port}"

    # ---------------------------------------------------------------- inspection
    @property
    def tasks(self) -> dict[str, dict[str, Any]]:
        """Snapshot of every task record, with "status" computed as of now."""
        now = time.time()
        with self._lock:
            return {
                tid: {**t, "status": self._stage(t, now) or "in_progress"}
                for tid, t in self._tasks.items()
            }

    def query_count(self, task_id: str | None = None) -> int:
        with self._lock:
            return self._query_total if task_id is None else self._query_counts[task_id]

    def status(self, task_id: str) -> str:
        """Current status of a task (finalizing it first if its time has come)."""
        with self._lock:
            due = self._stage(self._tasks[task_id], time.time()) is None
        if due:
            self._finalize(task_id)
        with self._lock:
            return self._stage(self._tasks[task_id], time.time()) or "in_progress"

    def image_bytes(self, task_id: str, n: int = 0) -> bytes | None:
        with self._lock:
            png = self._files.get((task_id, n))
            if png is not None:
                self._files.move_to_end((task_id, n))
            return png

    def store_sizes(self) -> dict[str, int]:
        """How many entries each in-memory store holds (all bounded by the config)."""
        with self._lock:
            return {
                "tasks": len(self._tasks),
                "task_meta": len(self._meta),
                "images": len(self._files),
                "query_counts": len(self._query_counts),
                "callbacks_sent": len(self.callbacks_sent),
                "scheduled": len(self._due),
            }

    # ------------------------------------------------------------------ controls
    def finish(self, task_id: str, status: str = "success", message: str | None = None) -> dict:
        """Force a task final now ("success", "failed" or "text") and send its callback(s)
        synchronously per callback_mode. Returns the callback payload."""
        if status not in ("success", "failed", "text"):
            raise ValueError("status must be 'success', 'failed' or 'text'")
        payload = self._finalize(
            task_id, outcome=status, message=message, forced=True, sync_callbacks=True
        )
        assert payload is not None
        return payload

    def set_status(self, task_id: str, status: str) -> None:
        """Force a non-final status (any string, e.g. "in_progress" or an unknown one);
        automatic progression stops for that task until finish() is called."""
        if status in FINAL_STATUSES:
            raise ValueError("use finish() for final statuses")
        with self._lock:
            task = self._tasks[task_id]
            meta = self._meta[task_id]
            self._bump_generation(meta)
            task.update(
                forced_status=status,
                final_status=None,
                result=None,
                consumed=ZERO,
                message=None,
                final_at=None,
            )

    # ------------------------------------------------------------------ internals
    def _forget(self, task_id: str) -> None:
        """Drop a task and everything kept for it (the caller holds the lock)."""
        self._tasks.pop(task_id, None)
        meta = self._meta.pop(task_id, None)
        if meta is not None:
            self._bump_generation(meta)  # wakes anyone waiting on its finalization
        self._files.pop((task_id, 0), None)
        self._query_counts.pop(task_id, None)

    def _count_query(self, task_id: str) -> None:
        """Count a query per task id, keeping as many ids as tasks (the caller holds the
        lock): the longest-known ids go first."""
        counts = self._query_counts
        counts[task_id] += 1
        while len(counts) > max(1, self.config.max_tasks):
            del counts[next(iter(counts))]

    def _schedule(self, when: float, task_id: str) -> None:
        """Finish `task_id` at `when` (time.time()); the caller holds the lock."""
        heapq.heappush(self._due, (when, next(self._due_order), task_id))
        if len(self._due) > 2 * max(1, self.config.max_tasks):
            # Entries of forgotten tasks would otherwise wait for their time to leave.
            self._due = [entry for entry in self._due if entry[2] in self._tasks]
            heapq.heapify(self._due)
        self._wake.notify()

    def _run_scheduler(self) -> None:
        me = threading.current_thread()
        while True:
            with self._wake:
                while self._scheduler is me:
                    delay = self._due[0][0] - time.time() if self._due else None
                    if delay is not None and delay <= 0:
                        break
                    self._wake.wait(delay)
                if self._scheduler is not me:
                    return
                _, _, task_id = heapq.heappop(self._due)
                finalizers = self._finalizers
                if task_id not in self._tasks or finalizers is None:
                    continue
            # The finalizer calls back itself, as soon as the task is final: from a thread
            # of its own, the callback waited (0.45 s at the median with 50 tasks ending
            # together) while the finalizers rendered the next tasks.
            with contextlib.suppress(RuntimeError):  # shut down meanwhile
                finalizers.submit(self._finalize, task_id, sync_callbacks=True)

    def draw(self, rate: float) -> bool:
        """True with probability `rate` (thread-safe, seeded)."""
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def _choice(self, options: tuple[str, ...]) -> str:
        with self._lock:
            return self._rng.choice(options)

    @staticmethod
    def _bump_generation(meta: _Meta) -> None:
        meta.generation += 1
        meta.finalizing = False
        old, meta.done = meta.done, threading.Event()
        old.set()  # release anyone waiting on a superseded finalization

    @staticmethod
    def _stage(task: dict[str, Any], now: float) -> str | None:
        """Status as of `now`; None means "final state is due but not yet recorded"."""
        if task["final_status"]:
            return task["final_status"]
        if task["forced_status"]:
            return task["forced_status"]
        pending, submitted, in_progress = task["durations"]
        elapsed = now - task["created_at"]
        if elapsed < pending:
            return "pending"
        if elapsed < pending + submitted:
            return "submitted"
        if elapsed < pending + submitted + in_progress:
            return "in_progress"
        return None

    def create_task(self, request: dict[str, Any], result_base: str) -> str:
        cfg = self.config
        outcome = "success"
        if self.draw(cfg.failure_rate):
            outcome = "failed"
        elif self.draw(cfg.text_result_rate):
            outcome = "text"
        task_id = f"ta{uuid.uuid4()}"
        durations = tuple(
            max(0.0, float(d))
            for d in (cfg.pending_seconds, cfg.submitted_seconds, cfg.in_progress_seconds)
        )
        now = time.time()
        task = {
            "task_id": task_id,
            **request,
            "created_at": now,
            "created_at_iso": _iso(now),
            "durations": durations,
            "outcome": outcome,
            "forced_status": None,
            "final_status": None,
            "result": None,
            "consumed": ZERO,
            "message": None,
            "final_at": None,
            "result_base": result_base,
        }
        meta = _Meta()
        with self._lock:
            self._tasks[task_id] = task
            self._meta[task_id] = meta
            while len(self._tasks) > max(1, cfg.max_tasks):
                self._forget(next(iter(self._tasks)))
            if cfg.callback_mode != "before_response":
                self._schedule(now + sum(durations), task_id)
        log.info("task %s created (model=%s, outcome=%s)", task_id, request["model"], outcome)
        return task_id

    def _finalize(
        self,
        task_id: str,
        *,
        outcome: str | None = None,
        message: str | None = None,
        forced: bool = False,
        sync_callbacks: bool = False,
    ) -> dict[str, Any] | None:
        with self._lock:
            task = self._tasks.get(task_id)
            meta = self._meta.get(task_id)
            if task is None or meta is None:
                if forced:
                    raise KeyError(task_id)
                return None  # forgotten: too old to keep
            wait_for = None
            if forced:
                self._bump_generation(meta)
                meta.finalizing = True
            elif task["final_status"] or task["forced_status"]:
                return None
            elif meta.finalizing:
                wait_for = meta.done
            else:
                meta.finalizing = True
            generation = meta.generation
            outcome = outcome or task["outcome"]
            spec = dict(task)
            cfg = self.config
            as_data_uri = cfg.result_as_data_uri
            price = cfg.price
            hosts = tuple(cfg.callback_hosts)
        if wait_for is not None:
            wait_for.wait(30)
            return None

        png = None
        result: list[dict[str, str]] | None = None
        consumed = ZERO
        status = "success"
        if outcome == "success":
            try:
                png = render_png(
                    prompt=spec["prompt"],
                    model=spec["model"],
                    aspect_ratio=spec["aspect_ratio"],
                    image_size=spec["image_size"],
                    references=spec["images"],
                    allowed_hosts=hosts,
                    task_id=task_id,
                )
            except Exception:
                log.exception("rendering task %s failed", task_id)
                status, message = "failed", "Internal error while rendering the image."
            else:
                if as_data_uri:
                    image = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
                else:
                    image = f"{spec['result_base']}/files/{task_id}/0.png"
                result = [{"image": image}]
                consumed = price
                message = None
        elif outcome == "text":
            text = self._choice(TEXT_ANSWERS).format(prompt=spec["prompt"])
            result = [{"text": text}]
            consumed = price
            message = None
        else:
            status = "failed"
            message = message or self._choice(FAILURE_REASONS)

        with self._lock:
            if meta.generation != generation or self._meta.get(task_id) is not meta:
                return None  # superseded by finish() or set_status(), or forgotten
            if png is not None:
                self._files[(task_id, 0)] = png
                self._files.move_to_end((task_id, 0))
                while len(self._files) > max(1, self.config.max_images):
                    self._files.popitem(last=False)
            task.update(
                final_status=status,
                forced_status=None,
                result=result,
                consumed=consumed,
                message=message,
                final_at=time.time(),
            )
            meta.finalizing = False
            meta.done.set()
            payload = self._callback_payload(task)
            mode = self.config.callback_mode
            copies = max(2, int(self.config.duplicate_callbacks)) if mode == "duplicate" else 1
        log.info("task %s final: %s", task_id, status)
        url = spec["callback_url"]
        if url and mode != "none":
            if sync_callbacks:
                self._send_callbacks(url, payload, copies)
            else:
                threading.Thread(
                    target=self._send_callbacks,
                    args=(url, payload, copies),
                    name=f"callback-{task_id}",
                    daemon=True,
                ).start()
        return payload

    @staticmethod
    def _callback_payload(task: dict[str, Any]) -> dict[str, Any]:
        return {
            "result": task["result"],
            "status": task["final_status"],
            "task_id": task["task_id"],
            "consumed": task["consumed"],
            "status_reason": {"message": task["message"]},
        }

    def query_data(self, task: dict[str, Any], status: str) -> dict[str, Any]:
        return {
            "task_id": task["task_id"],
            "status": status,
            "result": task["result"] if status in FINAL_STATUSES else None,
            "consumed": task["consumed"] if status in FINAL_STATUSES else ZERO,
            "status_reason": {"message": task["message"] if status in FINAL_STATUSES else None},
            "created_at": task["created_at_iso"],
        }

    def _send_callbacks(self, url: str, payload: dict[str, Any], copies: int) -> None:
        for _ in range(copies):
            self._post_callback(url, payload)

    def _post_callback(self, url: str, payload: dict[str, Any]) -> None:
        hosts = tuple(self.config.callback_hosts)
        outcome: int | str
        if not host_allowed(url, hosts):
            host = urllib.parse.urlsplit(url).hostname
            outcome = f"skipped: host {host!r} not in callback_hosts"
            log.info("callback to %s skipped (host not allowed)", host)
        else:
            data = json.dumps(payload).encode("utf-8")
            req = urllib.request.Request(
                url,
                data=data,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "banana-emulator/1"},
            )
            try:
                with local_opener(hosts).open(req, timeout=CALLBACK_TIMEOUT) as resp:
                    resp.read(65536)
                    outcome = resp.status
            except urllib.error.HTTPError as exc:
                outcome = exc.code
            except Exception as exc:
                outcome = f"error: {exc!r}"
            log.info("callback for %s -> %s", payload["task_id"], outcome)
        with self._lock:
            self.callbacks_sent.append((url, payload, outcome))
            excess = len(self.callbacks_sent) - max(1, self.config.max_tasks)
            if excess > 0:
                del self.callbacks_sent[:excess]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # Every answer closes its connection (HTTP/1.0), so a burst of calls is a burst of
    # connects: socketserver's backlog of 5 dropped the rest, which the kernel retried a
    # second later. A hosted API accepts them.
    request_queue_size = 1024
    emulator: Emulator


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "banana-emulator/1.0"
    sys_version = ""

    @property
    def emu(self) -> Emulator:
        return self.server.emulator

    def log_message(self, format: str, *args: Any) -> None:
        # The request line holds method, path and query only: never the Authorization header.
        log.info("%s %s", self.client_address[0], format % args)

    # ---------------------------------------------------------------- responses
    def _write(self, status: int, body: bytes, content_type: str) -> None:
        latency = self.emu.config.latency_seconds
        if latency > 0:
            time.sleep(latency)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._write(status, json.dumps(payload).encode("utf-8"), "application/json")

    def _server_error(self) -> None:
        if self.emu.draw(0.5):
            self._json(500, {"code": 500, "message": "internal server error"})
        else:
            html = b"<html><body><h1>500 Internal Server Error</h1></body></html>"
            self._write(500, html, "text/html; charset=utf-8")

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.strip().partition(" ")
        return scheme.lower() == "bearer" and token.strip() == self.emu.config.api_key

    def _dispatch(self, handler: Any) -> None:
        try:
            handler()
        except _DropResponse:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            log.exception("unhandled error for %s %s", self.command, self.path)
            with contextlib.suppress(OSError):
                self._json(500, {"code": 500, "message": "internal server error"})

    # ------------------------------------------------------------------ routing
    def do_GET(self) -> None:
        self._dispatch(self._route_get)

    def do_POST(self) -> None:
        self._dispatch(self._route_post)

    def _route_get(self) -> None:
        path, _, query = self.path.partition("?")
        if path.rstrip("/") == "/api/task/query":
            self._query(query)
        elif match := FILE_PATH.match(path):
            png = self.emu.image_bytes(match["task"], int(match["n"]))
            if png is None:
                self._json(404, {"code": 1, "message": "not found"})
            else:
                self._write(200, png, "image/png")
        elif path.rstrip("/") == "/api/image/gen":
            self._json(405, {"code": 1, "message": "method not allowed"})
        else:
            self._json(404, {"code": 1, "message": "not found"})

    def _route_post(self) -> None:
        path = self.path.partition("?")[0]
        if path.rstrip("/") == "/api/image/gen":
            self._submit()
        elif path.rstrip("/") == "/api/task/query":
            self._json(405, {"code": 1, "message": "method not allowed"})
        else:
            self._json(404, {"code": 1, "message": "not found"})

    # --------------------------------------------------------------- endpoints
    def _read_body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _bad_request(self, detail: str) -> None:
        self._json(400, {"code": 1, "message": "failed", "detail": detail})

    def _submit(self) -> None:
        emu = self.emu
        with emu._lock:
            emu.submit_count += 1
        cfg = emu.config
        if emu.draw(cfg.error_500_rate):
            self._read_body()
            self._server_error()
            return
        if not self._authorized():
            self._read_body()
            self._json(401, {"code": 1, "message": "Invalid API key"})
            return
        raw = self._read_body()
        if raw is None:
            self._bad_request("missing, invalid or too large Content-Length")
            return
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._bad_request(f"malformed JSON: {exc}")
            return
        request, detail = validate_gen_request(body)
        if request is None:
            self._bad_request(detail or "invalid request")
            return
        task_id = emu.create_task(request, self._result_base())
        if cfg.callback_mode == "before_response":
            emu._finalize(task_id, sync_callbacks=True)
        if cfg.drop_submit_response:
            log.info("dropping the response for task %s", task_id)
            raise _DropResponse
        self._json(200, {"code": 0, "message": "ok", "data": {"task_id": task_id}})

    def _result_base(self) -> str:
        cfg = self.emu.config
        if cfg.public_base_url:
            return cfg.public_base_url.rstrip("/")
        host = self.headers.get("Host")
        if host and re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", host):
            return f"http://{host}"
        return self.emu.base_url

    def _query(self, query: str) -> None:
        emu = self.emu
        params = urllib.parse.parse_qs(query)
        task_id = (params.get("task_id") or [""])[0].strip()
        with emu._lock:
            emu._query_total += 1
            if task_id:
                emu._count_query(task_id)
        cfg = emu.config
        if emu.draw(cfg.error_500_rate):
            self._server_error()
            return
        if not self._authorized():
            self._json(401, {"code": 401, "message": "Invalid API key"})
            return
        if not task_id:
            self._bad_request("task_id is required")
            return
        now = time.time()
        with emu._lock:
            task = emu._tasks.get(task_id)
            hidden = task is not None and now - task["created_at"] < cfg.not_found_seconds
            due = task is not None and emu._stage(task, now) is None
        if task is None or hidden:
            self._json(404, {"code": 1, "message": "task not found"})
            return
        if due:
            emu._finalize(task_id)
        with emu._lock:
            status = emu._stage(task, time.time()) or "in_progress"
            data = emu.query_data(task, status)
        if status not in FINAL_STATUSES and emu.draw(cfg.unknown_status_rate):
            data["status"] = emu._choice(UNKNOWN_STATUSES)
        self._json(200, {"code": 0, "message": "ok", "data": data})
