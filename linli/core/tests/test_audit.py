"""The audit log: append-only in the ORM and the database; role and scope changes recorded with who/what."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from linli.core import services
from linli.core.audit import AuditLog, record
from linli.core.models import Role
from linli.core.testing import make_user


@pytest.fixture
def entry(regions):
    return record("login", actor_name="liming", region_code="370198001")


def test_the_orm_refuses_to_change_or_delete_a_row(entry):
    entry.action = "logout"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditLog.objects.filter(pk=entry.pk).update(action="logout")
    with pytest.raises(PermissionError):
        AuditLog.objects.filter(pk=entry.pk).delete()
    with pytest.raises(PermissionError), transaction.atomic():
        AuditLog.objects.bulk_update([entry], ["action"])
    assert AuditLog.objects.get(pk=entry.pk).action == "login"


def test_the_database_refuses_a_raw_update(entry):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditlog SET action = 'logout' WHERE id = %s", [entry.pk])
    assert AuditLog.objects.get(pk=entry.pk).action == "login"


def test_the_database_refuses_an_update_that_bypasses_our_queryset(entry):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditLog._base_manager.filter(pk=entry.pk).update(actor_name="someone else")
    assert AuditLog.objects.get(pk=entry.pk).actor_name == "liming"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite refuses only updates in the database")
def test_postgresql_refuses_a_raw_delete_of_a_recent_row(entry):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditlog WHERE id = %s", [entry.pk])
    assert AuditLog.objects.filter(pk=entry.pk).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the retention window is a PostgreSQL trigger")
def test_postgresql_lets_retention_delete_rows_older_than_180_days(regions):
    old = AuditLog.objects.create(action="login", actor_name="old", at=timezone.now() - timedelta(days=181))
    recent = record("login", actor_name="recent")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditlog WHERE id = %s", [old.pk])
    assert not AuditLog.objects.filter(pk=old.pk).exists()
    assert AuditLog.objects.filter(pk=recent.pk).exists()


# --- Role and scope changes ---------------------------------------------------------------------------------


def test_role_change_is_recorded_with_actor_target_and_old_and_new(regions):
    admin = make_user(Role.DISTRICT_ADMIN, "370198", username="admin")
    worker = make_user(Role.GRID_WORKER, "370198001001001", username="liming")
    services.change_role(worker, Role.COMMUNITY_WORKER, by=admin)
    worker.refresh_from_db()
    assert worker.role == Role.COMMUNITY_WORKER
    row = AuditLog.objects.get(action="role_changed")
    assert (row.actor, row.target_type, row.target_id) == (admin, "core.User", str(worker.pk))
    assert row.detail == {"old": "grid_worker", "new": "community_worker"}
    assert row.region_code == "370198001001001"  # filed where the account works, for that region's auditors


def test_scope_change_is_recorded_with_old_and_new_codes(regions):
    officer = make_user(Role.STREET_OFFICER, "370198001", username="officer")
    worker = make_user(Role.GRID_WORKER, "370198001001001", username="liming")
    services.set_scopes(worker, ["370198001001002", "370198001002001"], by=officer)
    assert make_user_scopes(worker) == ["370198001001002", "370198001002001"]
    row = AuditLog.objects.get(action="scope_changed")
    assert row.actor == officer and row.target_id == str(worker.pk)
    assert row.detail == {"old": ["370198001001001"], "new": ["370198001001002", "370198001002001"]}


def make_user_scopes(user) -> list[str]:
    user.refresh_from_db()
    return sorted(user.scopes.values_list("region_id", flat=True))


def test_officers_manage_only_inside_their_scope(regions):
    officer = make_user(Role.STREET_OFFICER, "370198001", username="officer")
    cousin = make_user(Role.GRID_WORKER, "370198002001001", username="cousin")
    worker = make_user(Role.GRID_WORKER, "370198001001001", username="liming")
    with pytest.raises(PermissionDenied):
        services.change_role(cousin, Role.COMMUNITY_WORKER, by=officer)
    with pytest.raises(PermissionDenied):
        services.set_scopes(worker, ["370198002001"], by=officer)  # moving someone out of one's own street
    with pytest.raises(PermissionDenied):
        services.create_user("wangfang", "Start-pass-1", Role.GRID_WORKER, ["370198002001001"], by=officer)
    with pytest.raises(PermissionDenied):
        services.change_role(worker, Role.DISTRICT_ADMIN, by=officer)
    assert not AuditLog.objects.filter(action__in=["role_changed", "scope_changed", "user_created"]).exists()


def test_workers_and_auditors_manage_no_accounts(regions):
    worker = make_user(Role.GRID_WORKER, "370198001001001", username="liming")
    for role in (Role.COMMUNITY_WORKER, Role.AUDITOR, Role.POLICE_LIAISON):
        actor = make_user(role, "370198", username=f"actor-{role}")
        with pytest.raises(PermissionDenied):
            services.change_role(worker, Role.STREET_OFFICER, by=actor)
        with pytest.raises(PermissionDenied):
            services.set_scopes(worker, ["370198001"], by=actor)


def test_nobody_raises_their_own_role_or_scope(regions):
    officer = make_user(Role.STREET_OFFICER, "370198001", username="officer")
    with pytest.raises(PermissionDenied):
        services.change_role(officer, Role.AUDITOR, by=officer)
    with pytest.raises(PermissionDenied):
        services.set_scopes(officer, ["370198001", "370198002"], by=officer)


def test_a_resident_is_made_staff_only_by_a_district_admin_with_a_scope(regions):
    officer = make_user(Role.STREET_OFFICER, "370198001", username="officer")
    admin = make_user(Role.DISTRICT_ADMIN, "370198", username="admin")
    resident = make_user(Role.RESIDENT, username="zhangsan")
    with pytest.raises(PermissionDenied):
        services.change_role(resident, Role.GRID_WORKER, by=officer)
    with pytest.raises(ValidationError):
        services.change_role(resident, Role.GRID_WORKER, by=admin)  # a staff role needs a scope first
    with pytest.raises(ValidationError):
        services.set_scopes(resident, ["370198001001001"], by=admin)  # and a resident has none
    with pytest.raises(ValidationError):
        services.create_user("lisi", "Start-pass-1", Role.RESIDENT, ["370198001"], by=admin)


def test_a_staff_account_keeps_at_least_one_scope(regions):
    admin = make_user(Role.DISTRICT_ADMIN, "370198", username="admin")
    worker = make_user(Role.GRID_WORKER, "370198001001001", username="liming")
    with pytest.raises(ValidationError):
        services.set_scopes(worker, [], by=admin)
    with pytest.raises(ValidationError):
        services.set_scopes(worker, ["370198009"], by=None)  # unknown region
    assert make_user_scopes(worker) == ["370198001001001"]


def test_auditors_see_the_audit_of_their_scope_only(regions):
    auditor = make_user(Role.AUDITOR, "370198001", username="auditor")
    mine = record("login", actor_name="east", region_code="370198001001")
    record("login", actor_name="west", region_code="370198002001")
    assert list(AuditLog.objects.visible_to(auditor)) == [mine]
