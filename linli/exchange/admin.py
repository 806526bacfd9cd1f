"""Configuration of exchange clients for district administrators: create (key shown once), revoke, new key.

Keys are issued and revoked only through ``services`` (audited). A new key is shown on the page that answers
the form, never put in a message or the session, and only its hash is stored.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from linli.core.admin import DistrictAdminOnly
from linli.core.models import Region
from linli.grid.models import Category

from . import services
from .models import ApiClient, CategoryMapping, OutboundPush, Submission


class ApiClientForm(forms.ModelForm):
    system = forms.SlugField(
        label=_("upstream system"),
        max_length=30,
        required=False,
        help_text=_("Empty: 12345 for the hotline, city-centre for the city, open311-<name> for Open311."),
    )

    push_url = forms.URLField(
        label=_("push URL"),
        required=False,
        assume_scheme="https",
        help_text=ApiClient._meta.get_field("push_url").help_text,
    )

    class Meta:
        model = ApiClient
        fields = [
            "name",
            "kind",
            "system",
            "region",
            "jurisdiction_id",
            "fallback_grid",
            "default_category",
            "push_url",
            "push_all",
        ]


def show_keys(request, issued: list[tuple[ApiClient, str]]) -> TemplateResponse:
    return TemplateResponse(
        request,
        "exchange/admin_keys.html",
        {
            "title": _("Copy the key now"),
            "issued": issued,
            "site_header": admin.site.site_header,
            "has_permission": True,
        },
    )


@admin.register(ApiClient)
class ApiClientAdmin(DistrictAdminOnly, admin.ModelAdmin):
    form = ApiClientForm
    list_display = ["name", "kind", "system", "region_code", "jurisdiction", "active", "last_used_at"]
    list_filter = ["kind", "active"]
    search_fields = ["name", "system", "region_code"]
    readonly_fields = ["key_prefix", "active", "created_at", "revoked_at", "last_used_at"]
    actions = ["revoke", "new_key"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [*self.readonly_fields, "kind", "system"]

    def get_fields(self, request, obj=None):
        fields = list(ApiClientForm.Meta.fields)
        return fields if obj is None else [*fields, *self.readonly_fields]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in ("region", "fallback_grid"):
            kwargs["queryset"] = Region.objects.visible_to(request.user)
        if db_field.name == "default_category":
            kwargs["queryset"] = Category.objects.filter(parent__isnull=False, active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: received cases and the audit log keep naming the client

    def save_model(self, request, obj, form, change):
        if change:
            try:
                services.change_client(obj, list(form.changed_data), by=request.user, request=request)
            except ValidationError as exc:
                raise PermissionDenied("; ".join(exc.messages)) from exc
            return
        data = form.cleaned_data
        try:
            issued = services.create_client(
                name=data["name"],
                kind=data["kind"],
                region_code=data["region"].code,
                system=data.get("system") or "",
                jurisdiction_id=data.get("jurisdiction_id") or "",
                push_url=data.get("push_url") or "",
                push_all=data.get("push_all") or False,
                fallback_grid=data["fallback_grid"].code if data.get("fallback_grid") else None,
                default_category=data.get("default_category"),
                by=request.user,
                request=request,
            )
        except ValidationError as exc:
            raise PermissionDenied("; ".join(exc.messages)) from exc
        obj.pk = issued.client.pk
        obj._state.adding = False
        request._exchange_issued = [(issued.client, issued.key)]

    def response_add(self, request, obj, post_url_continue=None):
        return show_keys(request, request._exchange_issued)

    @admin.action(description=_("Revoke the selected clients (their keys stop working)"))
    def revoke(self, request, queryset):
        for client in queryset:
            services.revoke_client(client, by=request.user, request=request)
        messages.success(request, _("Revoked: %(count)d.") % {"count": queryset.count()})

    @admin.action(description=_("Issue a new key (the old one stops working)"))
    def new_key(self, request, queryset):
        issued = [
            (client, services.rotate_key(client, by=request.user, request=request))
            for client in queryset.filter(active=True)
        ]
        return show_keys(request, issued)


@admin.register(CategoryMapping)
class CategoryMappingAdmin(DistrictAdminOnly, admin.ModelAdmin):
    list_display = ["system", "external_code", "external_name", "category"]
    list_filter = ["system"]
    search_fields = ["external_code", "external_name", "category__code", "category__name"]
    autocomplete_fields = []

    def scoped_queryset(self, request):
        return CategoryMapping.objects.select_related("category")  # district-wide configuration, no region

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "category":
            kwargs["queryset"] = Category.objects.filter(parent__isnull=False)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReadOnly:
    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Submission)
class SubmissionAdmin(ReadOnly, DistrictAdminOnly, admin.ModelAdmin):
    list_display = ["received_at", "client", "upstream_id", "request_type", "event", "region_code"]
    list_filter = ["client", "request_type"]
    search_fields = ["upstream_id", "event__number"]
    list_select_related = ["client", "event"]
    exclude = ["attributes"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(OutboundPush)
class OutboundPushAdmin(ReadOnly, DistrictAdminOnly, admin.ModelAdmin):
    list_display = [
        "created_at",
        "client",
        "update_id",
        "operation",
        "delivered_at",
        "attempts",
        "last_error",
    ]
    list_filter = ["client", "operation"]
    search_fields = ["update_id", "event__number"]
    list_select_related = ["client"]

    def scoped_queryset(self, request):
        clients = ApiClient.objects.visible_to(request.user)
        return OutboundPush.objects.filter(client__in=clients)
