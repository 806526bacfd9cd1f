"""Grid routes under /api/v1/grid/ (the API root itself is the core's)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

app_name = "grid-api"

router = SimpleRouter()
router.register("categories", views.CategoryViewSet, basename="category")
router.register("departments", views.DepartmentViewSet, basename="department")
router.register("events", views.EventViewSet, basename="event")
router.register("requests", views.RequestViewSet, basename="request")
router.register("notifications", views.NotificationViewSet, basename="notification")

urlpatterns = [path("grid/", include(router.urls))]
