"""Console pages of the IoT hub, under /iot/."""

from django.urls import path

from . import views

app_name = "iot"
urlpatterns = [
    path("", views.device_list_view, name="devices"),
    path("devices/new/", views.device_create_view, name="device_create"),
    path("devices/<int:pk>/", views.device_detail_view, name="device_detail"),
    path("devices/<int:pk>/commands/", views.device_commands_view, name="device_commands"),
    path("devices/<int:pk>/command/", views.device_command_view, name="device_command"),
    path("devices/<int:pk>/token/", views.device_token_view, name="device_token"),
    path("alarms/", views.alarm_list_view, name="alarms"),
    path("alarms/<int:pk>/ack/", views.alarm_ack_view, name="alarm_ack"),
    path("alarms/<int:pk>/clear/", views.alarm_clear_view, name="alarm_clear"),
    path("notifications/", views.notification_list_view, name="notifications"),
    path("profiles/", views.profile_list_view, name="profiles"),
    path("profiles/new/", views.profile_form_view, name="profile_create"),
    path("profiles/<int:pk>/", views.profile_detail_view, name="profile_detail"),
    path("profiles/<int:pk>/edit/", views.profile_form_view, name="profile_edit"),
    path("profiles/<int:profile_pk>/rules/new/", views.rule_form_view, name="rule_create"),
    path("profiles/<int:profile_pk>/rules/<int:pk>/", views.rule_form_view, name="rule_edit"),
    path("profiles/<int:profile_pk>/rules/<int:pk>/delete/", views.rule_delete_view, name="rule_delete"),
    path("import/", views.import_view, name="import"),
    path("import/template.xlsx", views.import_template_view, name="import_template"),
    path("import/tokens.xlsx", views.import_tokens_view, name="import_tokens"),
    path("lighting/", views.lighting_list_view, name="lighting"),
    path("lighting/<int:pk>/", views.lighting_detail_view, name="lighting_detail"),
]
