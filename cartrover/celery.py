"""The Celery app: configured from Django settings (`CELERY_*`), tasks found in every app."""

import os

from celery import Celery

import cartrover.broker  # noqa: F401  (the embedded broker writes message files whole)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cartrover.settings")

app = Celery("cartrover")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
