from django.urls import path

from carts import views, webhooks

urlpatterns = [
    path("hooks/carts/<str:webhook_key>/", webhooks.cart_webhook, name="cart_webhook"),
    path("carts/", views.cart_list, name="cart_list"),
    path("merchants/<int:merchant_pk>/carts/new/", views.cart_new, name="cart_new"),
    path("carts/<int:pk>/", views.cart_detail, name="cart_detail"),
    path("carts/<int:pk>/edit/", views.cart_edit, name="cart_edit"),
    path("carts/<int:pk>/test/", views.cart_test, name="cart_test"),
    path("carts/<int:pk>/upload/", views.cart_upload, name="cart_upload"),
    path("schedules/<int:pk>/run/", views.schedule_run, name="schedule_run"),
    path("schedules/<int:pk>/status/", views.schedule_status, name="schedule_status"),
]
