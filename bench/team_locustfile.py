"""Locust users for bench/team.py: one member each, with one studio tab open.

Every 2 s the tab sends the page's one poll (watching its newest card with the token it
last saw, so only a changed card comes back), every 30 s the member loads the team
gallery, and once a minute they submit a job from the studio form. Each user starts at a
random point of that minute, as a team does. The members' session cookies come from the
file BANANA_TEAM_SESSIONS names, one per line.
"""

import os
import random
import re
from http.cookiejar import Cookie
from itertools import count
from pathlib import Path
from urllib.parse import urlsplit

from locust import FastHttpUser, constant, task

COOKIES = Path(os.environ["BANANA_TEAM_SESSIONS"]).read_text().split()
TICK = 2.0
GALLERY_EVERY = 15  # ticks: 30 s
SUBMIT_EVERY = 30  # ticks: 60 s
WATCH = re.compile(r'name="watch" value="([0-9a-f-]{36}):([^"]*)"')
CSRF = re.compile(r'"X-CSRFToken": "([^"]+)"')
_members = count()


def session_cookie(value, host):
    return Cookie(
        0, "sessionid", value, None, False, host, False, False, "/", True, False, None, True,
        None, None, {},
    )  # fmt: skip


class Member(FastHttpUser):
    wait_time = constant(TICK)

    def on_start(self):
        host = urlsplit(self.host).hostname
        self.client.cookiejar.set_cookie(
            session_cookie(COOKIES[next(_members) % len(COOKIES)], host)
        )
        self.tick = random.randrange(SUBMIT_EVERY)
        self.watch = None
        home = self.client.get("/", name="studio")
        token = CSRF.search(home.text or "")
        self.csrf = token.group(1) if token else ""
        self._remember(home.text or "")

    def _remember(self, text):
        found = WATCH.findall(text)
        if found:
            self.watch = "{}:{}".format(*found[0])

    @task
    def a_tick(self):
        self.tick += 1
        if self.tick % SUBMIT_EVERY == 0:
            self.submit()
        elif self.tick % GALLERY_EVERY == 0:
            self.client.get("/gallery/", name="gallery")
        if self.watch:
            answer = self.client.get(
                "/g/status/",
                params={"watch": self.watch},
                headers={"HX-Request": "true"},
                name="poll",
            )
            self._remember(answer.text or "")
            finished = (answer.headers or {}).get("HX-Trigger", "")
            if "banana:finished" in finished:
                # Settled: from now on the tab holds the card's final token, so its polls
                # bring nothing back (a real tab would stop polling).
                pk = self.watch.split(":")[0]
                final = "successs" if '"done": 1' in finished else "failed"
                self.watch = f"{pk}:{final}"

    def submit(self):
        form = {"prompt": "a team banana", "model": "google/gempix2"}
        headers = {"HX-Request": "true", "X-CSRFToken": self.csrf, "Referer": self.host + "/"}
        for attempt in (1, 2):
            with self.client.post(
                "/generate/", data=form, headers=headers, name="submit", catch_response=True
            ) as answer:
                # A member idle for a minute between submits reuses a connection gunicorn
                # closed after GUNICORN_KEEPALIVE; a browser sends the POST again on a new
                # one (the server saw nothing of it), geventhttpclient only GETs.
                error = answer.request_meta.get("exception")
                if attempt == 1 and "connection closed" in str(error or ""):
                    answer.success()
                    continue
                self._remember(answer.text or "")
                return
