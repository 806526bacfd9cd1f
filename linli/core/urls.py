from django.urls import path

from . import views

app_name = "core"
urlpatterns = [
    path("", views.home_view, name="home"),
    path("login/", views.login_view, name="login"),
    path("login/totp/", views.totp_view, name="totp"),
    path("login/totp/enrol/", views.totp_enrol_view, name="totp_enrol"),
    path("logout/", views.logout_view, name="logout"),
    path("password/", views.password_change_view, name="password_change"),
    path("region/switch/", views.switch_region_view, name="switch_region"),
    path("regions/<str:code>/", views.region_detail_view, name="region_detail"),
    path("audit/", views.audit_list_view, name="audit"),
]
