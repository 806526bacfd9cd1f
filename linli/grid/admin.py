"""Grid configuration in the admin: categories with their conditions and time limits, and departments.

Categories are the district's dictionary (not a region's), so district administrators see them all;
departments belong to a region and are scoped like everything else. Events are never edited here: they change
only through the steps of the loop (``services.take_step``), which keep their history.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from linli.core.admin import DistrictAdminOnly, region_field_in_scope
from linli.core.admin_site import is_district_admin

from .models import Category, Department, TimeLimit


class TimeLimitInline(admin.TabularInline):
    model = TimeLimit
    fields = ["stage", "urgency", "amount", "unit"]
    extra = 0

    def has_view_permission(self, request, obj=None):
        return is_district_admin(request.user)

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission


class DistrictDictionary(DistrictAdminOnly):
    def scoped_queryset(self, request):
        return self.model._default_manager.all()


@admin.register(Category)
class CategoryAdmin(DistrictDictionary, admin.ModelAdmin):
    list_display = ["code", "name", "parent", "kind", "department", "public", "active"]
    list_filter = ["kind", "public", "active", "parent"]
    search_fields = ["code", "name", "name_en", "keywords"]
    list_select_related = ["parent", "department"]
    inlines = [TimeLimitInline]
    fieldsets = [
        (None, {"fields": ["code", "name", "name_en", "parent", "kind", "code_scheme", "keywords"]}),
        (_("Filing and closing"), {"fields": ["filing_condition", "closing_condition", "department"]}),
        (
            _("Escalation and duplicates"),
            {
                "fields": [
                    "escalation_ladder",
                    "escalate_after_hours",
                    "duplicate_radius_m",
                    "duplicate_window_hours",
                ]
            },
        ),
        (_("Availability"), {"fields": ["public", "active"]}),
    ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "parent":
            kwargs["queryset"] = Category.objects.filter(parent__isnull=True)
        if db_field.name == "department":
            kwargs["queryset"] = Department.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Department)
class DepartmentAdmin(DistrictAdminOnly, admin.ModelAdmin):
    list_display = ["code", "name", "region"]
    search_fields = ["code", "name"]
    filter_horizontal = ["members"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        return super().formfield_for_foreignkey(
            db_field, request, **region_field_in_scope(request, db_field, kwargs)
        )
