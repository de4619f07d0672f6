from django.apps import AppConfig


class CartroverConfig(AppConfig):
    name = "cartrover"
    verbose_name = "Hub"
