from django.urls import path

from wms import layouts, views

urlpatterns = [
    path("wms/", views.wms_setup, name="wms_setup"),
    path("wms/test/", views.wms_test, name="wms_test"),
    path("wms/ship-methods/", views.ship_methods_add, name="ship_methods_add"),
    path("wms/warehouses/", views.warehouses_add, name="warehouses_add"),
    path("wms/layouts/<str:which>/", layouts.layout_builder, name="layout_builder"),
]
