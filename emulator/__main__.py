"""Command line: ``python -m emulator --port 8765``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from .config import CALLBACK_MODES, DEFAULT_API_KEY, EmulatorConfig
from .server import Emulator


def build_parser() -> argparse.ArgumentParser:
    d = EmulatorConfig()
    p = argparse.ArgumentParser(
        prog="python -m emulator", description="Fake upstream image-generation API."
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument(
        "--api-key",
        default=os.environ.get("EMULATOR_API_KEY", DEFAULT_API_KEY),
        help="accepted bearer key (default: $EMULATOR_API_KEY or %(default)s)",
    )
    p.add_argument("--pending-seconds", type=float, default=d.pending_seconds)
    p.add_argument("--submitted-seconds", type=float, default=d.submitted_seconds)
    p.add_argument("--in-progress-seconds", type=float, default=d.in_progress_seconds)
    p.add_argument(
        "--not-found-seconds",
        type=float,
        default=d.not_found_seconds,
        help="queries this soon after submit answer 404 task not found",
    )
    p.add_argument("--failure-rate", type=float, default=d.failure_rate)
    p.add_argument("--text-result-rate", type=float, default=d.text_result_rate)
    p.add_argument("--error-500-rate", type=float, default=d.error_500_rate)
    p.add_argument("--latency-seconds", type=float, default=d.latency_seconds)
    p.add_argument("--unknown-status-rate", type=float, default=d.unknown_status_rate)
    p.add_argument(
        "--drop-submit-response",
        action="store_true",
        help="create the task, then close the connection without answering",
    )
    p.add_argument(
        "--data-uri", action="store_true", help="return result images as base64 data: URIs"
    )
    p.add_argument("--callback-mode", choices=CALLBACK_MODES, default=d.callback_mode)
    p.add_argument("--duplicate-callbacks", type=int, default=d.duplicate_callbacks)
    p.add_argument("--price", default=d.price, help="consumed per successful task")
    p.add_argument(
        "--callback-host",
        action="append",
        dest="callback_hosts",
        metavar="HOST",
        help="host allowed to receive callbacks / serve references (repeatable; "
        "default: 127.0.0.1, localhost, ::1)",
    )
    p.add_argument(
        "--public-url", default=None, help="base URL for result image links (default: Host)"
    )
    p.add_argument(
        "--max-tasks",
        type=int,
        default=d.max_tasks,
        help="tasks kept in memory; older ones answer 404 (default: %(default)s)",
    )
    p.add_argument(
        "--max-images",
        type=int,
        default=d.max_images,
        help="rendered images kept in memory, least recently served first out "
        "(default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    return p


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    cfg = EmulatorConfig(
        api_key=args.api_key,
        pending_seconds=args.pending_seconds,
        submitted_seconds=args.submitted_seconds,
        in_progress_seconds=args.in_progress_seconds,
        not_found_seconds=args.not_found_seconds,
        failure_rate=args.failure_rate,
        text_result_rate=args.text_result_rate,
        error_500_rate=args.error_500_rate,
        latency_seconds=args.latency_seconds,
        result_as_data_uri=args.data_uri,
        callback_mode=args.callback_mode,
        duplicate_callbacks=args.duplicate_callbacks,
        unknown_status_rate=args.unknown_status_rate,
        drop_submit_response=args.drop_submit_response,
        price=args.price,
        seed=args.seed,
        public_base_url=args.public_url,
        max_tasks=args.max_tasks,
        max_images=args.max_images,
    )
    if args.callback_hosts:
        cfg.callback_hosts = tuple(args.callback_hosts)
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    emu = Emulator(config_from_args(args), host=args.host, port=args.port)
    try:
        emu.start()
    except OSError as exc:
        print(f"emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    print(f"Upstream emulator listening on {emu.base_url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emu.stop()
    print("emulator stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
