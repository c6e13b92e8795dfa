"""A team's day, simulated with locust: the largest team the web tier holds.

    python -m bench.team [N …]        (make bench-team; default 100 200 300 400 500;
                                       BENCH_DATABASE_URL=postgres://… to use PostgreSQL,
                                       whose database it EMPTIES first)

N members (bench/team_locustfile.py), each with one studio tab that polls every 2 s,
loading the team gallery every 30 s and submitting a job a minute, against the
production-like stack: gunicorn (gunicorn.conf.py: 2 processes, its default threads), one
task worker, the emulator (1 s per call, calling back) and the database. Each step runs
for STEP_SECONDS after all its users have started (locust's statistics are reset then),
and reports p95 per kind of request, failures, and the CPU each part used. The team
holds when pages stay under 500 ms at p95 (the gallery, which members load as they work;
the studio's first load, as each user starts, and submits are reported beside), polls
under 200 ms, and no request fails; the largest such N is printed, with what was busiest
at the next step.
"""

import csv
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .burst import Stack, members
from .pages import ROOT, prepare_database

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "banana_site.settings")

STEPS = [100, 200, 300, 400, 500]
STEP_SECONDS = 60
SPAWN_RATE = 50
PAGE_P95 = 500
POLL_P95 = 200


class CpuSampler:
    """The CPU (in cores) each part of the stack used, on average, while it ran."""

    def __init__(self, stack, database_name):
        self.stack = stack
        self.database_name = database_name
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _groups(self):
        import psutil

        groups = {"web": [], "worker": [], "database": [], "locust": [], "emulator": []}
        for name, process in self.stack.processes.items():
            try:
                parent = psutil.Process(process.pid)
                groups[name] += [parent, *parent.children(recursive=True)]
            except psutil.Error:
                continue
        for process in psutil.process_iter(["name", "cmdline"]):
            cmdline = " ".join(process.info["cmdline"] or [])
            if process.info["name"] == "postgres" and self.database_name in cmdline:
                groups["database"].append(process)
            elif "locust" in cmdline and "team_locustfile" in cmdline:
                groups["locust"].append(process)
        groups["emulator"].append(psutil.Process(self.stack.emulator.process.pid))
        return groups

    def _run(self):
        import psutil

        def used(processes):
            total = 0.0
            for process in processes:
                try:
                    times = process.cpu_times()
                    total += times.user + times.system
                except psutil.Error:
                    pass
            return total

        before, start = None, time.monotonic()
        while not self._stop.wait(2.0):
            groups = self._groups()
            now = {name: used(processes) for name, processes in groups.items()}
            if before is not None:
                elapsed = time.monotonic() - start
                self.samples.append(
                    {name: (now[name] - before.get(name, 0)) / elapsed for name in now}
                )
            before, start = now, time.monotonic()

    def average(self):
        if not self.samples:
            return {}
        return {
            name: sum(s.get(name, 0) for s in self.samples) / len(self.samples)
            for name in self.samples[-1]
        }


def run_step(stack, sessions_file, users, workdir, database_name):
    prefix = workdir / f"step-{users}"
    ramp = users / SPAWN_RATE
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(ROOT / "bench" / "team_locustfile.py"),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(SPAWN_RATE),
        "--run-time",
        f"{int(ramp + STEP_SECONDS)}s",
        "--reset-stats",
        "--host",
        stack.base,
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    env = {**os.environ, "BANANA_TEAM_SESSIONS": str(sessions_file)}
    with CpuSampler(stack, database_name) as cpu:
        subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
    rows = {}
    with open(f"{prefix}_stats.csv") as fh:
        for row in csv.DictReader(fh):
            rows[row["Name"]] = row
    with open(f"{prefix}_failures.csv") as fh:
        failures = [
            f"{row['Occurrences']} x {row['Method']} {row['Name']}: {row['Error']}"
            for row in csv.DictReader(fh)
        ]
    return rows, cpu.average(), failures


def figure(rows, name, column="95%"):
    row = rows.get(name)
    return float(row[column]) if row and row[column] not in ("", "N/A") else float("nan")


def main(argv=None):
    import django

    steps = [int(n) for n in (argv or sys.argv[1:])] or STEPS
    workdir = Path(tempfile.mkdtemp(prefix="banana-team-"))
    stack = Stack(workdir, latency=1.0)
    try:
        prepare_database(stack.env)
        django.setup()
        from django.db import connection

        database_name = connection.settings_dict["NAME"]
        sessions = [cookie for _user, cookie in members(max(steps), "member")]
        connection.close()
        sessions_file = workdir / "sessions.txt"
        sessions_file.write_text("\n".join(sessions))
        stack.start()
        print(
            f"{'members':>7} {'req/s':>6} {'poll p95':>9} {'gallery p95':>12} {'submit p95':>11} "
            f"{'studio p95':>11} {'failed':>7}  CPU (cores): web / worker / database / locust / "
            "emulator"
        )
        held, busiest = None, None
        for users in steps:
            rows, cpu, failures = run_step(stack, sessions_file, users, workdir, database_name)
            total = rows.get("Aggregated", {})
            failed = int(total.get("Failure Count", 0) or 0)
            poll = figure(rows, "poll")
            # The pages loaded while the team works: the gallery (the studio is loaded once,
            # when a member opens it, as each user starts).
            holds = failed == 0 and poll < POLL_P95 and figure(rows, "gallery") < PAGE_P95
            print(
                f"{users:>7} {float(total.get('Requests/s', 0) or 0):>6.0f} {poll:>7.0f}ms "
                f"{figure(rows, 'gallery'):>10.0f}ms {figure(rows, 'submit'):>9.0f}ms "
                f"{figure(rows, 'studio'):>9.0f}ms {failed:>7}  "
                + " / ".join(
                    f"{cpu.get(name, 0):.2f}"
                    for name in ("web", "worker", "database", "locust", "emulator")
                )
                + ("" if holds else "   (does not hold)")
            )
            for failure in failures:
                print(f"{'':>9}failed: {failure[:160]}")
            if holds:
                held = users
            elif busiest is None:
                busiest = max(cpu, key=cpu.get) if cpu else None
        print(
            f"largest team held: {held or 'none'} members (pages p95 < {PAGE_P95} ms, polls p95 < "
            f"{POLL_P95} ms, no failed request) on {os.cpu_count()} cores, machine load "
            f"{os.getloadavg()[0]:.1f}"
            + (f"; busiest where it stopped holding: {busiest}" if busiest else "")
        )
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
