"""The device HTTP API's URLs. Tokens are 20–64 characters, so these never shadow the /api/v1/ REST routes."""

from django.urls import path, re_path

from . import views

TOKEN = r"(?P<token>[^/]{20,64})"

urlpatterns = [
    path("api/v1/provision", views.provision, name="device-provision"),
    path("ingest/emqx/authenticate", views.emqx_authenticate, name="ingest-emqx-authenticate"),
    path("ingest/emqx/authorize", views.emqx_authorize, name="ingest-emqx-authorize"),
    re_path(rf"^api/v1/{TOKEN}/telemetry/?$", views.telemetry, name="device-telemetry"),
    re_path(
        rf"^api/v1/{TOKEN}/attributes/updates/?$", views.attribute_updates, name="device-attribute-updates"
    ),
    re_path(rf"^api/v1/{TOKEN}/attributes/?$", views.attributes, name="device-attributes"),
    re_path(rf"^api/v1/{TOKEN}/rpc/(?P<rpc_id>[0-9]+)/?$", views.rpc_reply, name="device-rpc-reply"),
    re_path(rf"^api/v1/{TOKEN}/rpc/?$", views.rpc, name="device-rpc"),
    re_path(rf"^api/v1/{TOKEN}/claim/?$", views.claim, name="device-claim"),
]
