from django.urls import path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("regions", views.RegionViewSet, basename="region")
router.register("users", views.UserViewSet, basename="user")
router.register("audit", views.AuditLogViewSet, basename="audit")

urlpatterns = [path("me/", views.MeView.as_view(), name="api-me"), *router.urls]
