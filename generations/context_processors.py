from django.utils.functional import SimpleLazyObject

from generations import credits as credit_service
from generations.models import UpstreamHealth


def credits(request):
    """The member's credits for the header on every page; the key's health for admins."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Lazy: fragments that never show the header (the status poll) cost no query for it.
    context = {"credit_summary": SimpleLazyObject(lambda: credit_service.summary_for(user))}
    if user.is_staff and request.path.startswith("/admin/"):
        health = UpstreamHealth.objects.filter(pk=1).first()
        context["upstream_key_rejected_since"] = health.key_rejected_since if health else None
    return context
