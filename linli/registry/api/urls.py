"""Registry routes under /api/v1/ (the API root itself is the core's)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import excel, views

router = SimpleRouter()
router.register("people", views.PersonViewSet, basename="person")
router.register("buildings", views.BuildingViewSet, basename="building")
router.register("houses", views.HouseViewSet, basename="house")
router.register("residencies", views.ResidencyViewSet, basename="residency")
router.register("households", views.HouseholdViewSet, basename="household")
router.register("organisations", views.OrganisationViewSet, basename="organisation")
router.register("facilities", views.FacilityViewSet, basename="facility")
router.register("vehicles", views.VehicleViewSet, basename="vehicle")

urlpatterns = [
    *router.urls,
    path("registry-imports/", excel.ImportListView.as_view(), name="registry-import-list"),
    path("registry-imports/<int:pk>/", excel.ImportDetailView.as_view(), name="registry-import-detail"),
    path("registry-exports/<str:kind>/", excel.ExportView.as_view(), name="registry-export"),
]
