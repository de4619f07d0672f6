from django.urls import path

from carts import webhooks

urlpatterns = [
    path("hooks/carts/<str:webhook_key>/", webhooks.cart_webhook, name="cart_webhook"),
]
