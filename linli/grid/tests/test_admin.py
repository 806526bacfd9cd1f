"""District administrators configure categories, time limits and departments in the admin; no one else."""

import pytest

from linli.core.models import Role
from linli.core.testing import PASSWORD, make_user
from linli.grid.models import Category, TimeLimit


@pytest.mark.django_db
def test_a_district_admin_sets_a_category_time_limit(client, regions, totp_off):
    admin_user = make_user(Role.DISTRICT_ADMIN, "370198", username="boss")
    client.login(username="boss", password=PASSWORD)
    category = Category.objects.get(code="06010")
    page = client.get(f"/admin/grid/category/{category.pk}/change/")
    assert page.status_code == 200 and "暴露垃圾" in page.content.decode()
    limits = list(category.time_limits.order_by("id"))
    form = {
        "code": category.code,
        "name": category.name,
        "name_en": category.name_en,
        "parent": category.parent_id,
        "kind": category.kind,
        "code_scheme": category.code_scheme,
        "keywords": "",
        "filing_condition": category.filing_condition,
        "closing_condition": category.closing_condition,
        "department": "",
        "escalation_ladder": '["grid", "community", "street"]',
        "escalate_after_hours": 2,
        "duplicate_radius_m": 80,
        "duplicate_window_hours": 48,
        "public": "on",
        "active": "on",
        "time_limits-TOTAL_FORMS": len(limits) + 1,
        "time_limits-INITIAL_FORMS": len(limits),
        "time_limits-MIN_NUM_FORMS": 0,
        "time_limits-MAX_NUM_FORMS": 1000,
    }
    for i, limit in enumerate(limits):
        form |= {
            f"time_limits-{i}-id": limit.pk,
            f"time_limits-{i}-category": category.pk,
            f"time_limits-{i}-stage": limit.stage,
            f"time_limits-{i}-urgency": limit.urgency,
            f"time_limits-{i}-amount": limit.amount,
            f"time_limits-{i}-unit": limit.unit,
        }
    n = len(limits)
    form |= {
        f"time_limits-{n}-category": category.pk,
        f"time_limits-{n}-stage": "inspect",
        f"time_limits-{n}-urgency": "normal",
        f"time_limits-{n}-amount": "2",
        f"time_limits-{n}-unit": "working_hour",
    }
    response = client.post(f"/admin/grid/category/{category.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    category.refresh_from_db()
    assert category.ladder == ["grid", "community", "street"] and category.duplicate_radius_m == 80
    assert TimeLimit.objects.get(category=category, stage="inspect").amount == 2
    assert admin_user.is_staff


@pytest.mark.django_db
def test_other_roles_do_not_get_in(client, regions, totp_off):
    make_user(Role.COMMUNITY_WORKER, "370198001001", username="cw")
    client.login(username="cw", password=PASSWORD)
    response = client.get("/admin/grid/category/")
    assert response.status_code in (302, 403)
