"""Console pages of the register, under /registry/."""

from django.urls import path

from . import views, views_excel

app_name = "registry"
urlpatterns = [
    path("", views.person_list_view, name="people"),
    path("people/new/", views.person_create_view, name="person_create"),
    path("people/<int:pk>/", views.person_detail_view, name="person_detail"),
    path("people/<int:pk>/edit/", views.person_edit_view, name="person_edit"),
    path("people/<int:pk>/unmask/", views.person_unmask_view, name="person_unmask"),
    path("people/<int:pk>/tags/", views.person_tag_view, name="person_tag"),
    path("people/<int:pk>/tags/<str:tag>/remove/", views.person_untag_view, name="person_untag"),
    path(
        "people/<int:pk>/consents/<int:consent_pk>/withdraw/",
        views.consent_withdraw_view,
        name="consent_withdraw",
    ),
    path("houses/", views.house_list_view, name="houses"),
    path("houses/new/", views.house_create_view, name="house_create"),
    path("houses/<int:pk>/", views.house_detail_view, name="house_detail"),
    path("houses/<int:pk>/edit/", views.house_edit_view, name="house_edit"),
    path("houses/<int:pk>/move-in/", views.house_move_in_view, name="house_move_in"),
    path("houses/<int:pk>/households/new/", views.household_create_view, name="household_create"),
    path("residencies/<int:pk>/end/", views.residency_end_view, name="residency_end"),
    path("households/", views.household_list_view, name="households"),
    path("households/<int:pk>/", views.household_detail_view, name="household_detail"),
    path("households/<int:pk>/members/", views.household_member_add_view, name="household_member_add"),
    path(
        "households/<int:pk>/members/<int:person_pk>/remove/",
        views.household_member_remove_view,
        name="household_member_remove",
    ),
    path("import/", views_excel.import_view, name="import"),
    path("import/<int:pk>/", views_excel.import_job_view, name="import_job"),
    path("import/<int:pk>/errors.xlsx", views_excel.import_errors_view, name="import_errors"),
    path("templates/<str:kind>.xlsx", views_excel.template_view, name="import_template"),
    path("export/", views_excel.export_view, name="export"),
    path("<str:kind>/", views.kind_list_view, name="kind_list"),
    path("<str:kind>/new/", views.kind_form_view, name="kind_create"),
    path("<str:kind>/<int:pk>/", views.kind_detail_view, name="kind_detail"),
    path("<str:kind>/<int:pk>/edit/", views.kind_form_view, name="kind_edit"),
]
