"""`make run`'s runner: web server, worker and emulator start together and stop together."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from .conftest import wait_for

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children_of(pid):
    """Every process below `pid`, by walking /proc (Linux)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until_up(url, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "rundev exited early"
        try:
            return requests.get(url, timeout=10)
        except requests.RequestException:  # not up yet, or busy starting
            time.sleep(0.3)
    raise AssertionError(f"{url} never answered")


@pytest.mark.subprocess
@pytest.mark.skipif(not Path("/proc").exists(), reason="walks /proc to find child processes")
def test_rundev_serves_on_the_ports_it_is_given_and_ctrl_c_stops_every_process(tmp_path):
    web, api = free_port(), free_port()
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    env.pop("BANANA_API_BASE_URL", None)
    env.pop("PUBLIC_BASE_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=ROOT, check=True)
    runner = subprocess.Popen(
        [*manage, "rundev", "--addr", f"127.0.0.1:{web}", "--emulator-port", str(api)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        login = wait_until_up(f"http://127.0.0.1:{web}/login/", runner)
        assert login.status_code == 200
        emulator = wait_until_up(f"http://127.0.0.1:{api}/api/task/query?task_id=x", runner)
        assert emulator.status_code == 401
        spawned = children_of(runner.pid)
        assert len(spawned) >= 3

        runner.send_signal(signal.SIGINT)
        assert runner.wait(timeout=30) is not None
        wait_for(lambda: not any(alive(pid) for pid in spawned))
    finally:
        if runner.poll() is None:
            runner.kill()


@pytest.mark.parametrize(
    ("taken", "what", "variable"),
    [("web", "the web server", "PORT"), ("emulator", "the upstream emulator", "EMULATOR_PORT")],
)
def test_rundev_names_a_busy_port_and_how_to_choose_another(tmp_path, taken, what, variable):
    ports = {"web": free_port(), "emulator": free_port()}
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    with socket.socket() as occupant:
        occupant.bind(("127.0.0.1", ports[taken]))
        occupant.listen()
        ran = subprocess.run(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "rundev",
                "--addr",
                f"127.0.0.1:{ports['web']}",
                "--emulator-port",
                str(ports["emulator"]),
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert ran.returncode != 0
    assert f"Port {ports[taken]} ({what}) is already in use" in ran.stderr
    assert f"make run {variable}=<port>" in ran.stderr


def test_make_run_takes_the_ports_it_is_given():
    dry = subprocess.run(
        [
            shutil.which("make") or "make",
            "-n",
            "--no-print-directory",
            "run",
            "PORT=8123",
            "EMULATOR_PORT=8124",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert dry[-1].endswith("manage.py rundev --addr 127.0.0.1:8123 --emulator-port 8124")
