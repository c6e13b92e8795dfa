"""The app's settings with one bare view added: the baseline (L1) the HTTP benchmark
measures pages against, served by the same gunicorn and database."""

from banana_site.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
