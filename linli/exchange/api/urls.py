"""Hotline and city-centre routes under /api/v1/exchange/."""

from django.urls import path

from . import views

urlpatterns = [
    path("cases/", views.CaseCreateView.as_view(), name="exchange-case-create"),
    path("cases/<path:upstream_id>/", views.CaseDetailView.as_view(), name="exchange-case-detail"),
    path("updates/", views.UpdateListView.as_view(), name="exchange-updates"),
]
