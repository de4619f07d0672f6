"""REST API v1 routes, the OpenAPI schema and its documentation page."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from api import views
from api.errors import api_not_found

urlpatterns = [
    path("orders/", views.OrderListView.as_view(), name="api_orders"),
    path("orders/acknowledge/", views.OrdersAcknowledgeView.as_view(), name="api_orders_ack"),
    path("orders/<int:pk>/", views.OrderDetailView.as_view(), name="api_order"),
    path(
        "orders/<int:pk>/acknowledge/",
        views.OrderAcknowledgeView.as_view(),
        name="api_order_ack",
    ),
    path("orders/<int:pk>/cancel/", views.OrderCancelView.as_view(), name="api_order_cancel"),
    path("orders/<int:pk>/resend/", views.OrderResendView.as_view(), name="api_order_resend"),
    path("shipments/", views.ShipmentsView.as_view(), name="api_shipments"),
    path("inventory/", views.InventoryView.as_view(), name="api_inventory"),
    path("merchants/", views.MerchantListView.as_view(), name="api_merchants"),
    path("merchants/<int:pk>/", views.MerchantDetailView.as_view(), name="api_merchant"),
    path(
        "merchants/<int:pk>/run-now/",
        views.MerchantRunNowView.as_view(),
        name="api_merchant_run_now",
    ),
    path("carts/", views.CartListView.as_view(), name="api_carts"),
    path("carts/<int:pk>/", views.CartDetailView.as_view(), name="api_cart"),
    path("carts/<int:pk>/orders/", views.CartOrdersPushView.as_view(), name="api_cart_orders"),
    path("carts/<int:pk>/run-now/", views.CartRunNowView.as_view(), name="api_cart_run_now"),
    path(
        "ship-method-mappings/",
        views.ShipMethodMappingListView.as_view(),
        name="api_ship_method_mappings",
    ),
    path("job-runs/", views.JobRunListView.as_view(), name="api_job_runs"),
    path("alerts/", views.AlertListView.as_view(), name="api_alerts"),
    path("webhooks/", views.WebhookEndpointListView.as_view(), name="api_webhooks"),
    path("webhooks/<int:pk>/", views.WebhookEndpointDetailView.as_view(), name="api_webhook"),
    path(
        "webhooks/<int:pk>/deliveries/",
        views.WebhookDeliveryListView.as_view(),
        name="api_webhook_deliveries",
    ),
    path(
        "webhook-deliveries/<int:pk>/replay/",
        views.WebhookDeliveryReplayView.as_view(),
        name="api_webhook_delivery_replay",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api_schema"), name="api_docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api_schema"), name="api_redoc"),
    # Last: anything else under /api/v1/ is a 404 in the API's error shape.
    re_path(r"^.*$", api_not_found, name="api_not_found"),
]
