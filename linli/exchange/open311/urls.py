"""GeoReport v2 routes; every document in XML (required by the spec) and JSON, chosen by the suffix."""

from django.urls import re_path

from . import views

FMT = r"\.(?P<fmt>xml|json)$"

app_name = "open311"
urlpatterns = [
    re_path(r"^discovery" + FMT, views.discovery, name="discovery"),
    re_path(r"^services" + FMT, views.service_list, name="services"),
    re_path(r"^services/(?P<code>[^/]+?)" + FMT, views.service_definition, name="service"),
    re_path(r"^requests" + FMT, views.requests, name="requests"),
    re_path(r"^requests/(?P<number>[^/]+?)" + FMT, views.request_detail, name="request"),
    re_path(r"^tokens/(?P<token>[^/]+?)" + FMT, views.token, name="token"),
    re_path(r"^servicerequestupdates" + FMT, views.request_updates, name="updates"),
]
