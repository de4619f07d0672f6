from django.urls import path

from api import screens as api_screens
from merchants import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("merchants/", views.merchant_list, name="merchant_list"),
    path("profile/", views.profile, name="profile"),
    path("settings/users/", views.users, name="users"),
    path("settings/users/<int:pk>/remove/", views.user_remove, name="user_remove"),
    path("settings/api-keys/", api_screens.api_keys, name="api_keys"),
    path(
        "settings/api-keys/<int:pk>/<str:action>/",
        api_screens.api_key_action,
        name="api_key_action",
    ),
    path("merchants/new/", views.merchant_new, name="merchant_new"),
    path("merchants/<int:pk>/", views.merchant_detail, name="merchant_detail"),
    path("merchants/<int:pk>/edit/", views.merchant_edit, name="merchant_edit"),
    path("merchants/<int:pk>/interfaces/", api_screens.webhook_endpoints, name="webhook_endpoints"),
    path(
        "interfaces/<int:pk>/",
        api_screens.webhook_endpoint_detail,
        name="webhook_endpoint_detail",
    ),
    path(
        "interfaces/<int:pk>/delete/",
        api_screens.webhook_endpoint_delete,
        name="webhook_endpoint_delete",
    ),
    path(
        "interfaces/deliveries/<int:pk>/resend/",
        api_screens.webhook_delivery_resend,
        name="webhook_delivery_resend",
    ),
]
