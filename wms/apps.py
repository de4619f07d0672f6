from django.apps import AppConfig


class WmsConfigApp(AppConfig):
    name = "wms"
    verbose_name = "Warehouse management system"
