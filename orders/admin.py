from django.contrib import admin

from orders.models import (
    CartStock,
    InventoryLevel,
    Order,
    OrderEvent,
    OrderLine,
    ProductAlias,
    Shipment,
    ShipmentLine,
    ShipMethodMapping,
)


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    exclude = ["account"]


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    exclude = ["account"]
    readonly_fields = ["kind", "message", "at"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["order_number", "order_source", "merchant", "status", "placed_at", "updated_at"]
    list_filter = ["status", "account", "merchant"]
    search_fields = ["order_number", "external_id", "customer_email", "customer_name"]
    list_select_related = ["merchant"]
    raw_id_fields = ["cart", "merchant", "account", "ship_method"]
    inlines = [OrderLineInline, OrderEventInline]


class ShipmentLineInline(admin.TabularInline):
    model = ShipmentLine
    extra = 0
    exclude = ["account"]
    raw_id_fields = ["order_line"]


@admin.register(Shipment)
class ShipmentAdmin(admin.ModelAdmin):
    list_display = ["tracking_number", "carrier", "order", "upload_state", "shipped_at"]
    list_filter = ["upload_state", "carrier", "account"]
    search_fields = ["tracking_number", "order__order_number"]
    raw_id_fields = ["order", "merchant", "account"]
    inlines = [ShipmentLineInline]


@admin.register(ShipMethodMapping)
class ShipMethodMappingAdmin(admin.ModelAdmin):
    list_display = ["cart_code", "ship_method", "merchant"]
    list_filter = ["account"]
    search_fields = ["cart_code", "merchant__name"]
    raw_id_fields = ["merchant", "account", "ship_method"]


@admin.register(ProductAlias)
class ProductAliasAdmin(admin.ModelAdmin):
    list_display = ["alias", "alias_type", "master_sku", "merchant"]
    list_filter = ["alias_type", "account"]
    search_fields = ["alias", "master_sku"]
    raw_id_fields = ["merchant", "account"]


@admin.register(InventoryLevel)
class InventoryLevelAdmin(admin.ModelAdmin):
    list_display = ["sku", "warehouse", "quantity", "merchant", "as_of"]
    list_filter = ["warehouse", "account"]
    search_fields = ["sku"]
    raw_id_fields = ["merchant", "account"]


@admin.register(CartStock)
class CartStockAdmin(admin.ModelAdmin):
    list_display = ["sku", "quantity", "cart", "sent_at"]
    list_filter = ["account"]
    search_fields = ["sku"]
    raw_id_fields = ["cart", "account"]


@admin.register(OrderEvent)
class OrderEventAdmin(admin.ModelAdmin):
    list_display = ["order", "kind", "message", "at"]
    list_filter = ["kind", "account"]
    search_fields = ["order__order_number", "message"]
    raw_id_fields = ["order", "account"]


@admin.register(OrderLine)
class OrderLineAdmin(admin.ModelAdmin):
    list_display = ["order", "sku", "wms_sku", "quantity"]
    list_filter = ["account"]
    search_fields = ["sku", "wms_sku", "order__order_number"]
    raw_id_fields = ["order", "account"]


@admin.register(ShipmentLine)
class ShipmentLineAdmin(admin.ModelAdmin):
    list_display = ["shipment", "sku", "quantity"]
    list_filter = ["account"]
    search_fields = ["sku", "shipment__tracking_number"]
    raw_id_fields = ["shipment", "order_line", "account"]
