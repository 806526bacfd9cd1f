"""The figures page and its export, mounted by the project at /grid/figures/ (see linli/urls.py)."""

from django.urls import path

from . import views_figures

app_name = "grid_figures"
urlpatterns = [
    path("", views_figures.figures_view, name="figures"),
    path("export/", views_figures.figures_export_view, name="export"),
]
