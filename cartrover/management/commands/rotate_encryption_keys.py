"""Re-encrypt every stored secret with the newest key in FIELD_ENCRYPTION_KEYS."""

from typing import Any

from django.core.management.base import BaseCommand

from cartrover.crypto import reencrypt_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first (newest) key of FIELD_ENCRYPTION_KEYS. "
        "Put the new key first, keep the old ones after it, run this, then drop the old keys."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        counts = reencrypt_all()
        for label, count in counts.items():
            self.stdout.write(f"{label}: {count} re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"Done: {sum(counts.values())} secrets."))
