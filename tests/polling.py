"""The page's one poll, as tests drive it for a single card."""

from django.urls import reverse

NO_TOKEN = "-"  # no card has it: the watched card always comes back


def poll(client, generation, headers=None):
    """One poll of a page watching `generation`; its card comes back whatever its state."""
    watch = f"{generation.pk}:{NO_TOKEN}"
    return client.get(reverse("generation_statuses"), {"watch": watch}, headers=headers)


def settled(response):
    """The answer brings the card settled: final, its images stored, nothing left to poll."""
    return "banana:finished" in response.get("HX-Trigger", "")


def poll_until_settled(client, generation, attempts=50, headers=None):
    for _ in range(attempts):
        response = poll(client, generation, headers)
        assert response.status_code == 200
        if settled(response):
            return response
    raise AssertionError("the card never settled")
