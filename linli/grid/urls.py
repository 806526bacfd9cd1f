"""Pages of the grid events, under /grid/: console (queue, map, detail), phone pages (m/), residents (my/)."""

from django.urls import path

from . import views

app_name = "grid"
urlpatterns = [
    path("", views.queue_view, name="queue"),
    path("count/", views.queue_count_view, name="queue_count"),
    path("map/", views.map_view, name="map"),
    path("events/<int:pk>/", views.event_detail_view, name="event"),
    path("events/<int:pk>/do/<str:action>/", views.step_view, name="step"),
    path("requests/<int:pk>/decide/", views.decide_view, name="decide"),
    path("photos/<int:pk>/", views.photo_view, name="photo"),
    path("notifications/", views.notifications_view, name="notifications"),
    path("m/", views.tasks_view, name="tasks"),
    path("m/report/", views.report_view, name="report"),
    path("m/events/<int:pk>/", views.phone_event_view, name="phone_event"),
    path("my/", views.my_reports_view, name="my_reports"),
    path("my/report/", views.resident_report_view, name="resident_report"),
]
