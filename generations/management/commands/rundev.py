import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

# The web server: gunicorn, as in production (gunicorn.conf.py: the redacting access log,
# metrics shared by its workers), with several workers and threads so that a burst of
# requests queues instead of being refused, and reloading when code or a template changes.
WEB_WORKERS = 2
WEB_THREADS = 8


def gunicorn_command(addr):
    base = Path(settings.BASE_DIR)
    templates = sorted(str(path) for path in (base / "templates").rglob("*") if path.is_file())
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        str(base / "gunicorn.conf.py"),
        "--bind",
        addr,
        "--workers",
        str(WEB_WORKERS),
        "--threads",
        str(WEB_THREADS),
        "--graceful-timeout",
        "5",
        "--reload",
        *(arg for template in templates for arg in ("--reload-extra-file", template)),
    ]


class Command(BaseCommand):
    help = (
        "Development: run the web server (gunicorn, reloading on changes), the task worker "
        "and the upstream emulator together. Ctrl-C stops all three."
    )

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="host:port of the web server")
        parser.add_argument(
            "--emulator-port",
            type=int,
            help="The emulator's port (default: BANANA_API_BASE_URL's, 8765).",
        )
        parser.add_argument(
            "--no-emulator",
            action="store_true",
            help="Do not start the emulator (BANANA_API_BASE_URL points at a real upstream).",
        )

    def handle(self, *args, addr, emulator_port, no_emulator, **options):
        host, _sep, port = addr.rpartition(":")
        if not port.isdigit():
            raise CommandError(f"--addr {addr}: host:port, e.g. 127.0.0.1:8000.")
        env = os.environ.copy()
        # Callbacks and signed links name the address the server really has.
        env.setdefault("PUBLIC_BASE_URL", f"http://{addr}")
        busy = {int(port): ("the web server", host or "127.0.0.1", "PORT")}
        manage = [sys.executable, "manage.py"]
        commands = {
            "web": gunicorn_command(addr),
            "worker": [*manage, "worker"],
        }
        if not no_emulator:
            api = urlsplit(settings.BANANA_API_BASE_URL)
            if api.hostname not in {"127.0.0.1", "localhost"}:
                raise CommandError(
                    "BANANA_API_BASE_URL is not local; use --no-emulator to run without it."
                )
            api_port = emulator_port or api.port or 80
            env["BANANA_API_BASE_URL"] = f"http://{api.hostname}:{api_port}"
            busy[api_port] = ("the upstream emulator", api.hostname, "EMULATOR_PORT")
            commands["emulator"] = [sys.executable, "-m", "emulator", "--port", str(api_port)]
        for number, (what, where, variable) in busy.items():
            if not _port_free(where, number):
                raise CommandError(
                    f"Port {number} ({what}) is already in use by another program. "
                    f"Stop it, or choose another port: make run {variable}=<port>."
                )
        # The key goes by environment, not the command line, where `ps` would show it.
        env["EMULATOR_API_KEY"] = settings.BANANA_API_KEY
        processes = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _interrupt)
        try:
            for name, command in commands.items():
                # Each child leads its own process group, so stopping it also stops what it
                # spawned (runserver's autoreloader child, for one).
                processes[name] = subprocess.Popen(  # noqa: S603
                    command, env=env, start_new_session=True
                )
            self.stdout.write(
                self.style.SUCCESS(f"Banana Studio is running on http://{addr}/ (Ctrl-C stops it)")
            )
            while all(p.poll() is None for p in processes.values()):
                time.sleep(0.5)
            dead = [name for name, p in processes.items() if p.poll() is not None]
            raise CommandError(f"{', '.join(dead)} stopped; stopping the rest.")
        except KeyboardInterrupt:
            self.stdout.write("Stopping…")
        finally:
            for p in processes.values():
                _signal_group(p, signal.SIGTERM)
            for p in processes.values():
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    _signal_group(p, signal.SIGKILL)


def _port_free(host, port):
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _signal_group(process, signum):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
