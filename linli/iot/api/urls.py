"""IoT hub routes under /api/v1/iot/."""

from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("iot/devices", views.DeviceViewSet, basename="iot-device")
router.register("iot/alarms", views.AlarmViewSet, basename="iot-alarm")
router.register("iot/commands", views.CommandViewSet, basename="iot-command")
router.register("iot/lighting-groups", views.LightingGroupViewSet, basename="iot-lighting-group")

urlpatterns = router.urls
