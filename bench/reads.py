"""What each prepared read (generations/prepared.py) saves: CPU per call of the read as
prepared, and of the same queryset built and run by the ORM, as a request would.

    python -m bench.reads

It makes the bench.profile data (a throwaway SQLite database) and times each read with
the values the bench member's pages send. A read stays prepared only while the ORM's
figure is several times its own on a page a bench figure loads (docs/benchmarks.md).
"""

import functools
import tempfile
import time
from pathlib import Path

from . import profile

CALLS = 300


def cpu_per_call(call):
    for _ in range(20):
        call()
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for _ in range(CALLS):
            call()
        best = min(best, (time.process_time() - start) / CALLS)
    return best


def reads():
    from generations import boards, credits, galleries
    from generations.accounts import members
    from generations.models import Generation
    from generations.views import media

    from .__main__ import bench_owner

    user = bench_owner()
    finished = Generation.objects.filter(owner=user, status="success").order_by("created_at")
    ids = list(finished.values_list("pk", flat=True)[:1])
    mine = (user.is_staff, {"user_pk": user.pk})
    return [
        ("page of cards", galleries._PAGES, ("history", user.is_staff, 11), mine[1]),
        ("status poll", galleries._WATCHED, user.is_staff, {**mine[1], "ids": ids}),
        ("in-flight count", galleries._IN_FLIGHT, *mine),
        (
            "image check",
            media._VISIBLE_RESULT,
            user.is_staff,
            {**mine[1], "generation_id": ids[0], "position": 0},
        ),
        (
            "credit header",
            credits._ACCOUNT_MONTH,
            (),
            {"user": user.pk, "start": credits.month_start_datetime()},
        ),
        ("model rules", members._RULES, (), {"user": user.pk}),
        ("collection pickers", boards._TO_PICK, (), {"owner": user.pk}),
    ]


def main():
    with tempfile.TemporaryDirectory(prefix="banana-reads-") as workdir:
        profile.setup(Path(workdir))
        profile.pages()
        print(f"{'read':20} {'prepared':>10} {'plain ORM':>10}")
        for name, read, shape, values in reads():
            arguments = {field: values.get(field) for field in read.fields}
            prepared = cpu_per_call(functools.partial(read.rows, shape, **values))
            orm = cpu_per_call(lambda r=read, s=shape, a=arguments: list(r.build(s, **a)))
            print(f"{name:20} {prepared * 1e6:7.0f} µs {orm * 1e6:7.0f} µs  {orm / prepared:.1f}x")


if __name__ == "__main__":
    main()
