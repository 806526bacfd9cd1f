from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("", include("linli.core.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("registry/", include("linli.registry.urls")),
    path("iot/", include("linli.iot.urls")),
    path("", include("linli.ingest.urls")),  # device HTTP API /api/v1/{token}/… (ThingsBoard's)
    path("api/v1/", include("linli.core.api.urls")),
    path("api/v1/", include("linli.registry.api.urls")),
    path("api/v1/", include("linli.iot.api.urls")),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
