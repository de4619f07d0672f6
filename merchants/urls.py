from django.urls import path

from merchants import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("merchants/", views.merchant_list, name="merchant_list"),
    path("merchants/<int:pk>/", views.merchant_detail, name="merchant_detail"),
]
