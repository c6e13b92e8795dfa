import secrets
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from generations import credits

DEMO_CREDITS = Decimal(100)


class Command(BaseCommand):
    help = (
        "Create a demo admin, with a random password and some credits to try things with, "
        "when there is no user yet."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.exists():
            return
        password = secrets.token_urlsafe(12)
        admin = User.objects.create_superuser("admin", "admin@example.invalid", password)
        credits.grant(admin, DEMO_CREDITS, reason="Demo credits for the first admin")
        self.stdout.write(
            self.style.SUCCESS(
                f"Created a demo admin with {DEMO_CREDITS} credits. "
                f"Username: admin  Password: {password}"
            )
        )
