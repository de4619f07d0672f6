"""The order-integration hub's project package."""

from cartrover.celery import app as celery_app

__all__ = ["celery_app"]
