"""Exports of the register as Excel: what the user may see, masked as they see it by default, audited."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.utils.translation import gettext as _

from linli.core.audit import record
from linli.core.models import User
from linli.core.pii.masking import mask

from . import excel, services
from .models import House, ImportJob, Organisation, Person, PersonTag, Residency

PEOPLE_HEADERS = (
    "姓名",
    "公民身份号码",
    "性别",
    "手机号码",
    "民族",
    "人员类型",
    "区域代码",
    "小区/村组",
    "楼栋",
    "单元",
    "房号",
    "与房屋关系",
    "入住日期",
    "人员标签",
)
HOUSE_HEADERS = ("区域代码", "小区/村组", "楼栋", "单元", "房号", "面积", "用途", "地址")
ORGANISATION_HEADERS = ("名称", "统一社会信用代码", "类型", "区域代码", "地址", "联系人", "联系电话")


def _people_rows(user: User, region_code: str | None):
    view = services.mask_view(user)
    people = (
        Person.objects.visible_to(user, region_code)
        .order_by("region_code", "pk")
        .prefetch_related(
            Prefetch(
                "residencies",
                queryset=Residency.objects.filter(end=None).select_related("house__building", "house__unit"),
                to_attr="current",
            ),
            Prefetch("tags", queryset=PersonTag.objects.only("person_id", "tag"), to_attr="tag_list"),
        )
    )
    sexes = {"M": "男", "F": "女"}
    for person in people.iterator(chunk_size=2000):
        base = [
            mask("name", person.name, view),
            mask("id_number", person.id_number, view),
            sexes.get(person.sex, ""),
            mask("phone", person.phone, view) or "",
            person.ethnicity,
            excel.first_label(excel.RESIDENCE_TYPES, person.residence_type),
            person.region_code,
        ]
        tags = "、".join(excel.first_label(excel.TAGS, t.tag) for t in person.tag_list)
        if not person.current:
            yield [*base, "", "", "", "", "", "", tags]
        for residency in person.current:
            house = residency.house
            yield [
                *base,
                house.building.estate,
                house.building.name,
                house.unit.name,
                house.number,
                excel.first_label(excel.RELATIONS, residency.relation),
                residency.start,
                tags,
            ]


def _house_rows(user: User, region_code: str | None):
    houses = (
        House.objects.visible_to(user, region_code)
        .select_related("building", "unit")
        .order_by("region_code", "building__estate", "building__name", "unit__name", "number")
    )
    for house in houses.iterator(chunk_size=2000):
        yield [
            house.region_code,
            house.building.estate,
            house.building.name,
            house.unit.name,
            house.number,
            house.area,
            excel.first_label(excel.HOUSE_USES, house.use),
            house.address,
        ]


def _organisation_rows(user: User, region_code: str | None):
    view = services.mask_view(user)
    for org in Organisation.objects.visible_to(user, region_code).order_by("region_code", "name").iterator():
        yield [
            org.name,
            org.credit_code,
            excel.first_label(excel.ORGANISATION_KINDS, org.kind),
            org.region_code,
            org.address,
            org.contact_name,
            mask("phone", org.contact_phone, view) or "",
        ]


EXPORTS = {
    ImportJob.Kind.PEOPLE: (PEOPLE_HEADERS, _people_rows),
    ImportJob.Kind.HOUSES: (HOUSE_HEADERS, _house_rows),
    ImportJob.Kind.ORGANISATIONS: (ORGANISATION_HEADERS, _organisation_rows),
}


class _Counted:
    def __init__(self, rows):
        self.rows, self.count = rows, 0

    def __iter__(self):
        for row in self.rows:
            self.count += 1
            yield row


def export_workbook(user: User, kind: str, *, region_code: str | None = None, request=None) -> bytes:
    """The user's scope (or one region inside it) of ``kind`` as .xlsx, masked for the user; audited."""
    if not services.can_read(user):
        raise PermissionDenied(_("Your role may not read the register."))
    headers, rows = EXPORTS[kind]
    counted = _Counted(rows(user, region_code))
    data = excel.write_sheet(excel.SHEET_TITLES[kind], headers, counted)
    record(
        "export",
        actor=user,
        request=request,
        region_code=region_code or (user.scope_codes[0] if user.scope_codes else None),
        kind=kind,
        rows=counted.count,
        filters={"region": region_code or ""},
        masked=services.mask_view(user),
    )
    return data
