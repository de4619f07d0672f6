from django.urls import path

from merchants import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("merchants/", views.merchant_list, name="merchant_list"),
    path("profile/", views.profile, name="profile"),
    path("merchants/new/", views.merchant_new, name="merchant_new"),
    path("merchants/<int:pk>/", views.merchant_detail, name="merchant_detail"),
    path("merchants/<int:pk>/edit/", views.merchant_edit, name="merchant_edit"),
]
