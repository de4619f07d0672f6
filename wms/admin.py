from django.contrib import admin

from wms.models import WmsConfig


@admin.register(WmsConfig)
class WmsConfigAdmin(admin.ModelAdmin):
    list_display = ["account", "kind", "health", "updated_at"]
    list_filter = ["kind", "health"]
    search_fields = ["account__name", "kind"]
    list_select_related = ["account"]
