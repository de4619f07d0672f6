from django.contrib import admin

from carts.models import CartConnection


@admin.register(CartConnection)
class CartConnectionAdmin(admin.ModelAdmin):
    list_display = ["order_source", "kind", "merchant", "account", "health", "active"]
    list_filter = ["kind", "health", "active", "account"]
    search_fields = ["order_source", "description", "merchant__name", "account__name"]
    list_select_related = ["merchant", "account"]
    autocomplete_fields = ["merchant", "account"]
