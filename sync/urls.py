from django.urls import path

from sync import views

urlpatterns = [
    path("activity/", views.activity, name="activity"),
    path("activity/<int:pk>/", views.job_run_detail, name="job_run_detail"),
    path("alerts/", views.alerts, name="alerts"),
]
