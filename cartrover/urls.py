"""URL routes: the web UI, authentication, and Django admin for operators."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from merchants.forms import EmailAuthenticationForm

urlpatterns = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            authentication_form=EmailAuthenticationForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("", include("carts.urls")),
    path("", include("orders.urls")),
    path("", include("wms.urls")),
    path("", include("sync.urls")),
    path("", include("merchants.urls")),
]
