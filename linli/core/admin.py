"""Django admin for configuration data: regions, accounts and their scopes, the working calendar, and the
(read-only) audit log.

Only district administrators get in (``admin_site.LinliAdminSite``), and they see only their own scope: every
queryset comes from ``visible_to``. Role and scope changes go through ``linli.core.services`` so that they are
checked and audited exactly as from anywhere else.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.password_validation import password_validators_help_texts, validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _

from . import services
from .admin_site import is_district_admin
from .audit import AuditLog
from .models import Region, Role, User, UserScope
from .regions import parent_code_of
from .workcalendar_admin import CalendarDayAdmin, WorkingPeriodAdmin  # noqa: F401  (registers them)


def region_field_in_scope(request, db_field, kwargs) -> dict:
    """Offer (and accept) only regions inside the administrator's own scope."""
    if db_field.name == "region":
        kwargs["queryset"] = Region.objects.visible_to(request.user)
    return kwargs


class DistrictAdminOnly:
    """Permissions from the role, not Django's permission rows; rows from the user's region scope."""

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

    def get_queryset(self, request):
        queryset = self.scoped_queryset(request)
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def scoped_queryset(self, request):
        return self.model._default_manager.visible_to(request.user)


# --- regions -------------------------------------------------------------------------------------------


class RegionForm(forms.ModelForm):
    class Meta:
        model = Region
        fields = ["code", "name", "boundary", "centre_lon", "centre_lat"]

    def clean(self):
        data = super().clean()
        code = data.get("code") or self.instance.code
        if code and not self.instance._state.adding:
            return data
        parent_code = parent_code_of(code or "")
        if parent_code and not Region.objects.filter(code=parent_code).exists():
            raise forms.ValidationError(
                _("Parent region “%(parent)s” of “%(code)s” does not exist; add it first."),
                params={"parent": parent_code, "code": code},
            )
        # The parent follows from the code; the model's own validation then checks the two agree.
        self.instance.parent_id = parent_code
        return data


@admin.register(Region)
class RegionAdmin(DistrictAdminOnly, admin.ModelAdmin):
    form = RegionForm
    list_display = ["code", "name", "level", "parent"]
    list_filter = ["level"]
    search_fields = ["code", "name"]
    list_select_related = ["parent"]
    list_per_page = 100

    def get_readonly_fields(self, request, obj=None):
        # The code is the key and every scope hangs on it: fixed once the region exists.
        return ["code", "level", "parent"] if obj is not None else []

    def get_fields(self, request, obj=None):
        fields = ["code", "name", "boundary", "centre_lon", "centre_lat"]
        return ["code", "level", "parent", *fields[1:]] if obj is not None else fields

    def save_model(self, request, obj, form, change):
        if change:
            obj.save()
            return
        centre = (obj.centre_lon, obj.centre_lat) if obj.centre_lon is not None else None
        created = services.create_region(obj.code, obj.name, boundary=obj.boundary, centre=centre)
        obj.level, obj.parent_id = created.level, created.parent_id
        obj._state.adding = False


# --- accounts ------------------------------------------------------------------------------------------


class ScopeFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        codes = scope_codes_of([self])
        if self.instance.role != Role.RESIDENT and not codes:
            raise forms.ValidationError(_("A staff account needs at least one region in its scope."))
        if self.instance.role == Role.RESIDENT and codes:
            raise forms.ValidationError(_("A resident account has no region scope; remove the regions."))


class UserScopeInline(admin.TabularInline):
    model = UserScope
    formset = ScopeFormSet
    fields = ["region"]
    autocomplete_fields = ["region"]
    extra = 0
    verbose_name = _("scope")
    verbose_name_plural = _("scopes (regions this account sees, with everything below them)")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        return super().formfield_for_foreignkey(
            db_field, request, **region_field_in_scope(request, db_field, kwargs)
        )

    def has_view_permission(self, request, obj=None):
        return is_district_admin(request.user)

    def has_add_permission(self, request, obj=None):
        return is_district_admin(request.user)

    def has_change_permission(self, request, obj=None):
        return is_district_admin(request.user)

    def has_delete_permission(self, request, obj=None):
        return is_district_admin(request.user)


def scope_codes_of(formsets) -> list[str]:
    """The region codes the scope inline ends up with: kept and added rows, not those marked for deletion."""
    codes = []
    for formset in formsets:
        if not isinstance(formset, ScopeFormSet):
            continue
        for form in formset.forms:
            data = getattr(form, "cleaned_data", None)
            if data and not data.get("DELETE") and data.get("region") is not None:
                codes.append(data["region"].code)
    return list(dict.fromkeys(codes))


class UserAddForm(forms.ModelForm):
    password1 = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput,
        strip=False,
        help_text=" ".join(password_validators_help_texts()),
    )
    password2 = forms.CharField(label=_("Password again"), widget=forms.PasswordInput, strip=False)

    class Meta:
        model = User
        fields = ["username", "display_name", "role"]

    def clean_username(self):
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("The username “%(name)s” is taken."), params={"name": username})
        return username

    def clean(self):
        data = super().clean()
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first:
            try:
                validate_password(first, User(username=data.get("username", "")))
            except ValidationError as exc:
                self.add_error("password1", exc)
        return data


class UserChangeForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["display_name", "role", "is_active", "must_change_password"]

    def clean_role(self):
        role = self.cleaned_data["role"]
        was_resident = User.objects.filter(pk=self.instance.pk, role=Role.RESIDENT).exists()
        if was_resident != (role == Role.RESIDENT):
            # Staff accounts carry a scope and residents none; one kind does not turn into the other.
            raise forms.ValidationError(
                _("A resident account cannot become staff, nor staff a resident; create a new account.")
            )
        return role


@admin.register(User)
class UserAdmin(DistrictAdminOnly, admin.ModelAdmin):
    list_display = ["username", "display_name", "role", "scope_list", "is_active", "is_demo", "last_login"]
    list_filter = ["role", "is_active", "is_demo"]
    search_fields = ["username", "display_name"]
    ordering = ["username"]
    inlines = [UserScopeInline]
    readonly_fields = [
        "username",
        "is_demo",
        "totp_confirmed",
        "failed_logins",
        "locked_until",
        "last_login",
        "date_joined",
    ]
    actions = None  # no bulk delete: accounts are deactivated, so the audit log keeps naming who acted

    @admin.display(description=_("scopes"))
    def scope_list(self, obj):
        return ", ".join(scope.region_id for scope in obj.scopes.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("scopes")

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = UserAddForm if obj is None else UserChangeForm
        kwargs["fields"] = None
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["username", "display_name", "role", "password1", "password2"]})]
        return [
            (None, {"fields": ["username", "display_name", "role", "is_active", "must_change_password"]}),
            (
                _("Security"),
                {
                    "fields": [
                        "is_demo",
                        "totp_confirmed",
                        "failed_logins",
                        "locked_until",
                        "last_login",
                        "date_joined",
                    ]
                },
            ),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.pk == request.user.pk:
            # Nobody changes their own role or switches themselves off; another administrator does.
            return [*self.readonly_fields, "role", "is_active"]
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if not change:
            return  # created in save_related, once the scopes from the inline are known
        stored = User.objects.get(pk=obj.pk)
        if "role" in form.changed_data:
            self._call(services.change_role, stored, obj.role, by=request.user, request=request)
            obj.is_staff = stored.is_staff
        others = [name for name in form.changed_data if name != "role"]
        if others:
            obj.save(update_fields=others)

    def save_related(self, request, form, formsets, change):
        codes = scope_codes_of(formsets)
        if not change:
            data = form.cleaned_data
            created = self._call(
                services.create_user,
                data["username"],
                data["password1"],
                data["role"],
                codes,
                by=request.user,
                display_name=data.get("display_name", ""),
                request=request,
            )
            form.instance.pk = created.pk
            form.instance._state.adding = False
        else:
            stored = User.objects.get(pk=form.instance.pk)
            if set(codes) != set(stored.scope_codes):
                self._call(services.set_scopes, stored, codes, by=request.user, request=request)
        for formset in formsets:
            formset.save(commit=False)  # only so the change message can list the rows; saved above

    @staticmethod
    def _call(action, *args, **kwargs):
        try:
            return action(*args, **kwargs)
        except ValidationError as exc:
            # The forms checked what they could; a rule only the service knows still reads as a refusal.
            raise PermissionDenied("; ".join(exc.messages)) from exc


@admin.register(UserScope)
class UserScopeAdmin(DistrictAdminOnly, admin.ModelAdmin):
    """Scopes one by one: adding or removing one goes through ``services.set_scopes`` and is audited."""

    list_display = ["user", "region"]
    list_select_related = ["user", "region"]
    search_fields = ["user__username", "region__code", "region__name"]
    autocomplete_fields = ["user", "region"]
    actions = None

    def scoped_queryset(self, request):
        return UserScope.objects.filter(region__in=Region.objects.visible_to(request.user))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        return super().formfield_for_foreignkey(
            db_field, request, **region_field_in_scope(request, db_field, kwargs)
        )

    def has_change_permission(self, request, obj=None):
        return False  # to move a scope, add the new one and remove the old

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.user.role != Role.RESIDENT and obj.user.scopes.count() <= 1:
            return False  # a staff account keeps at least one region
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        user = obj.user
        services.set_scopes(user, [*user.scope_codes, obj.region_id], by=request.user, request=request)
        obj.pk = UserScope.objects.get(user=user, region_id=obj.region_id).pk
        obj._state.adding = False

    def delete_model(self, request, obj):
        user = obj.user
        remaining = [code for code in user.scope_codes if code != obj.region_id]
        try:
            services.set_scopes(user, remaining, by=request.user, request=request)
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))


# --- audit log -----------------------------------------------------------------------------------------


@admin.register(AuditLog)
class AuditLogAdmin(DistrictAdminOnly, admin.ModelAdmin):
    """The audit log to read: no add, change or delete, here or anywhere."""

    list_display = ["at", "actor_name", "action", "target_type", "target_id", "region_code", "ip"]
    list_filter = ["action"]
    search_fields = ["actor_name", "target_id", "region_code"]
    date_hierarchy = "at"
    actions = None

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
