from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("", include("linli.core.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("grid/figures/", include("linli.grid.urls_figures")),
    path("registry/", include("linli.registry.urls")),
    path("grid/", include("linli.grid.urls")),
    path("iot/", include("linli.iot.urls")),
    path("", include("linli.ingest.urls")),  # device HTTP API /api/v1/{token}/… (ThingsBoard's)
    path("api/v1/", include("linli.core.api.urls")),
    path("api/v1/", include("linli.registry.api.urls")),
    path("api/v1/", include("linli.grid.api.urls")),
    path("api/v1/", include("linli.iot.api.urls")),
    path("api/v1/exchange/", include("linli.exchange.api.urls")),
    path("open311/v2/", include("linli.exchange.open311.urls")),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
