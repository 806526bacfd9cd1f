"""The working calendar in the configuration admin: holidays, make-up working days and working periods.

District administrators enter next year's schedule here once the 国务院办公厅 publishes it (the package that
seeds the calendar may not know it yet). Every add, change and delete is audited and takes effect at once in
this process (``workcalendar`` clears its cache on save); other processes follow within
``LINLI_CALENDAR_CACHE_SECONDS``.
"""

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import clock, workcalendar
from .admin_site import is_district_admin
from .audit import AuditAction, record
from .workcalendar import CalendarDay, DaySource, WorkingPeriod

WEEKDAYS = [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")]


def year_spans(years: list[int]) -> str:
    """2004, 2005 … 2026, 2028 → "2004–2026, 2028"."""
    spans: list[list[int]] = []
    for year in years:
        if spans and year == spans[-1][1] + 1:
            spans[-1][1] = year
        else:
            spans.append([year, year])
    return ", ".join(f"{first}–{last}" if first != last else str(first) for first, last in spans)


class CalendarAdminBase(admin.ModelAdmin):
    """District administrators only (the calendar is the district's, not a region's: no scope to apply)."""

    actions = None

    def has_module_permission(self, request):
        return is_district_admin(request.user)

    def has_view_permission(self, request, obj=None):
        return is_district_admin(request.user)

    def has_add_permission(self, request, *args):
        return is_district_admin(request.user)

    def has_change_permission(self, request, obj=None):
        return is_district_admin(request.user)

    def has_delete_permission(self, request, obj=None):
        return is_district_admin(request.user)

    def save_model(self, request, obj, form, change):
        before = {}
        if change:
            stored = type(obj).objects.get(pk=obj.pk)
            before = {name: str(form.initial.get(name, getattr(stored, name))) for name in form.changed_data}
        obj.updated_by = request.user
        self.before_save(obj)
        super().save_model(request, obj, form, change)
        self.audit(request, obj, "changed" if change else "added", **({"before": before} if change else {}))

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        self.audit(request, obj, "deleted")

    def before_save(self, obj):
        pass

    def audit(self, request, obj, change: str, **detail):
        record(
            AuditAction.CALENDAR_CHANGED,
            actor=request.user,
            request=request,
            target=obj,
            change=change,
            entry=self.describe(obj),
            **detail,
        )


@admin.register(CalendarDay)
class CalendarDayAdmin(CalendarAdminBase):
    list_display = ["date", "weekday", "kind", "name", "source", "updated_by", "updated_at"]
    list_filter = ["kind", "source"]
    search_fields = ["name"]
    date_hierarchy = "date"
    fields = ["date", "kind", "name", "source", "updated_by", "updated_at"]
    readonly_fields = ["source", "updated_by", "updated_at"]
    list_select_related = ["updated_by"]
    list_per_page = 100
    ordering = ["-date"]

    @admin.display(description=_("weekday"))
    def weekday(self, obj):
        return WEEKDAYS[obj.date.weekday()]

    def before_save(self, obj):
        obj.source = DaySource.ADMIN  # a seeded day once edited is the administrator's: reseeding keeps it

    def describe(self, obj):
        return {"date": obj.date.isoformat(), "kind": obj.kind, "name": obj.name}

    def changelist_view(self, request, extra_context=None):
        covered = workcalendar.package_years()
        in_database = workcalendar.years_in_database()
        this_year = timezone.localdate(clock.now()).year
        context = {
            "package_version": workcalendar.package_version(),
            "package_first": covered.start,
            "package_last": covered.stop - 1,
            "database_years": year_spans(in_database),
            "manual_years": ", ".join(str(year) for year in in_database if year not in covered),
            "missing_years": [year for year in (this_year, this_year + 1) if year not in in_database],
            "periods": workcalendar.working_periods(),
        }
        return super().changelist_view(request, {**context, **(extra_context or {})})


@admin.register(WorkingPeriod)
class WorkingPeriodAdmin(CalendarAdminBase):
    list_display = ["__str__", "start", "end", "updated_by", "updated_at"]
    fields = ["start", "end", "updated_by", "updated_at"]
    readonly_fields = ["updated_by", "updated_at"]
    ordering = ["start"]

    def describe(self, obj):
        return {"start": obj.start.strftime("%H:%M"), "end": obj.end.strftime("%H:%M")}

    def has_delete_permission(self, request, obj=None):
        if obj is not None and WorkingPeriod.objects.count() <= 1:
            return False  # a working day keeps some working time; change the last period instead
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        messages.info(request, _("Time limits counted in working time now use the remaining periods."))
