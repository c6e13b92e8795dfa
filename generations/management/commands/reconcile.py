from django.core.management.base import BaseCommand

from generations import services


class Command(BaseCommand):
    help = "Settle generations that no webhook and no viewer finished."

    def handle(self, *args, **options):
        counts = services.reconcile()
        self.stdout.write(", ".join(f"{name}: {n}" for name, n in counts.items()))
