"""Background work. Tasks take ids and re-read rows: the row is the truth, not the task."""

from datetime import timedelta

from django.tasks import task
from django.utils import timezone

from . import callbacks, services
from . import housekeeping as housekeeping_service

STORE_RETRY_DELAY = timedelta(seconds=20)


@task
def send_generation(*, generation_id):
    services.send_generation(generation_id)


@task
def refresh_generation(*, generation_id, force=False):
    services.refresh_from_upstream(generation_id, force=force)


@task
def store_results(*, generation_id):
    if services.store_results(generation_id):
        store_results.using(run_after=timezone.now() + STORE_RETRY_DELAY).enqueue(
            generation_id=generation_id
        )


@task
def reconcile_generations():
    return services.reconcile()


@task
def housekeeping():
    return housekeeping_service.run()


@task
def deliver_callback(*, delivery_id, attempt):
    """One attempt to POST a generation's callback to its member's URL; schedules the
    next one (backoff for about a day) when the receiver did not take it."""
    delay = callbacks.deliver(delivery_id, attempt)
    if delay is not None:
        deliver_callback.using(run_after=timezone.now() + delay).enqueue(
            delivery_id=delivery_id, attempt=attempt + 1
        )
