from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = "Sync engine"

    def ready(self) -> None:
        from sync import signals  # noqa: F401  (keeps schedules in step with settings)
