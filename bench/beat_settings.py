"""Settings for the scheduler benchmark: the product's, plus django-celery-beat as baseline."""

from cartrover.settings import *  # noqa: F403
from cartrover.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "django_celery_beat"]
