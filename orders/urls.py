from django.urls import path

from orders import views

urlpatterns = [
    path("orders/", views.order_list, name="order_list"),
    path("holds/", views.holds, name="holds"),
    path("inventory/", views.inventory, name="inventory"),
    path("orders/bulk/", views.orders_bulk, name="orders_bulk"),
    path("orders/<int:pk>/", views.order_detail, name="order_detail"),
    path("orders/<int:pk>/<str:action>/", views.order_action, name="order_action"),
    path("shipments/<int:pk>/resend/", views.shipment_resend, name="shipment_resend"),
]
