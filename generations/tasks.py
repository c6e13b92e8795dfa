"""Background work. Tasks take ids and re-read rows: the row is the truth, not the task."""

from datetime import timedelta

from django.tasks import task
from django.utils import timezone

from generations import housekeeping as housekeeping_service
from generations import retention, services
from generations.accounts import passwords
from generations.api import callbacks

STORE_RETRY_DELAY = timedelta(seconds=20)


@task
def send_generation(*, generation_id):
    services.send_generation(generation_id)


@task
def refresh_generation(*, generation_id):
    services.refresh_from_upstream(generation_id)


@task
def refresh_claimed_generation(*, generation_id):
    services.refresh_claimed(generation_id)


@task
def refresh_after_webhook(*, generation_id, deferred=False):
    """A webhook says the task changed. Coalesced like every refresh: when one is not due
    yet, come back once it is. A deferred run that still finds none due gives up: someone
    asked the upstream after the webhook came, and saw what it announced."""
    if services.refresh_from_upstream(generation_id) or deferred:
        return
    due = services.next_check_at(generation_id)
    if due is not None and refresh_after_webhook.get_backend().supports_defer:
        refresh_after_webhook.using(run_after=due).enqueue(
            generation_id=generation_id, deferred=True
        )


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


@task
def apply_retention():
    return retention.apply()


@task
def send_password_reset(*, address, base_url):
    # An address, not an id: whether it names an account is what the web must not tell.
    passwords.send_reset_mail(address, base_url)
