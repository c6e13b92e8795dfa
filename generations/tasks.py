"""Background work. Tasks take ids and re-read rows: the row is the truth, not the task.

Every task is on the backend's default queue; the worker (`manage.py worker`,
generations/lanes.py) serves them in the lanes of `LANES` below, each with threads of its
own, so what a member waits for never queues behind a member's slow receiver or the
upkeep.
"""

from typing import Any

from django.tasks import task
from django.utils import timezone

from generations import housekeeping as housekeeping_service
from generations import retention, services
from generations.accounts import passwords
from generations.api import callbacks


@task
def send_generation(*, generation_id):
    services.send_generation(generation_id)


@task
def refresh_claimed_generation(*, generation_id):
    services.refresh_claimed(generation_id)


@task
def refresh_after_webhook(*, generation_id, deferred=False, final=False, images=()):
    """A webhook says the task changed. Coalesced like every refresh: when none can be
    asked yet, come back once one can. A deferred run that still finds none gives up:
    someone asked the upstream after the webhook came, and saw what it announced."""
    due = services.refresh_on_webhook(generation_id, announced_final=final, announced_images=images)
    if due is None or deferred or not refresh_after_webhook.get_backend().supports_defer:
        return
    options: dict[str, Any] = {"final": True} if final else {}
    if images:
        options["images"] = images
    refresh_after_webhook.using(run_after=due).enqueue(
        generation_id=generation_id, deferred=True, **options
    )


@task
def store_results(*, generation_id):
    if services.store_results(generation_id):
        store_results.using(run_after=timezone.now() + services.STORE_RETRY_DELAY).enqueue(
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
    next one (backoff for about a day) when the receiver did not take it. While the member
    has BANANA_CALLBACKS_PER_MEMBER deliveries running, the attempt waits its turn."""
    with callbacks.member_slot(delivery_id) as free:
        if free:
            next_attempt, delay = attempt + 1, callbacks.deliver(delivery_id, attempt)
        else:
            next_attempt, delay = attempt, callbacks.BUSY_RETRY
    if delay is not None:
        deliver_callback.using(run_after=timezone.now() + delay).enqueue(
            delivery_id=delivery_id, attempt=next_attempt
        )


@task
def apply_retention():
    return retention.apply()


@task
def send_password_reset(*, address, base_url):
    # An address, not an id: whether it names an account is what the web must not tell.
    passwords.send_reset_mail(address, base_url)


# The worker's lanes, each served by its own threads. Within a lane, ready tasks run in
# this order of precedence, then oldest first: the nearer a generation is to being seen
# (its image stored, a final state announced, sent at all), the sooner.
LANES = {
    # What a member waits for: sending, learning the upstream's state, storing (and a
    # password-reset mail).
    "generations": (
        store_results,
        refresh_after_webhook,
        send_generation,
        refresh_claimed_generation,
        send_password_reset,
    ),
    # Members' receivers: slow, or gone, by their choice.
    "callbacks": (deliver_callback,),
    # Ours, never urgent.
    "upkeep": (reconcile_generations, housekeeping, apply_retention),
}
