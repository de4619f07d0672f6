from django.contrib import admin

from wms.models import Warehouse, WmsConfig, WmsShipMethod


@admin.register(WmsConfig)
class WmsConfigAdmin(admin.ModelAdmin):
    list_display = ["account", "kind", "health", "updated_at"]
    list_filter = ["kind", "health"]
    search_fields = ["account__name", "kind"]
    list_select_related = ["account"]


@admin.register(WmsShipMethod)
class WmsShipMethodAdmin(admin.ModelAdmin):
    list_display = ["code", "description", "carrier", "account", "active"]
    list_filter = ["active", "carrier", "account"]
    search_fields = ["code", "description", "carrier"]


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "account", "active"]
    list_filter = ["active", "account"]
    search_fields = ["code", "name"]
