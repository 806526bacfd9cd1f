"""The audit log: append-only in the ORM and the database, hash-chained and verifiable; role and scope changes
recorded with who/what; retention."""

import os
import stat
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from linli import cli
from linli.core import services
from linli.core.audit import (
    CHAIN_FIELDS,
    GENESIS_HASH,
    AuditLog,
    audit_key,
    chain_message,
    hmac_function,
    purge_audit_older_than,
    record,
    verify_chain,
)
from linli.core.models import Role
from linli.core.testing import make_user

SQLITE_TRIGGER = """CREATE TRIGGER core_auditlog_no_update BEFORE UPDATE ON core_auditlog
   BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"""


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


# --- Hash chain -------------------------------------------------------------------------------------------


def _chain() -> list[AuditLog]:
    return list(AuditLog.objects.order_by("seq"))


@contextmanager
def _triggers_off():
    """Act as an attacker with database superuser rights: set the append-only triggers aside, then restore."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SET CONSTRAINTS ALL IMMEDIATE"
            )  # ALTER TABLE waits for no deferred foreign-key check
            cursor.execute("ALTER TABLE core_auditlog DISABLE TRIGGER core_auditlog_no_update")
            cursor.execute("ALTER TABLE core_auditlog DISABLE TRIGGER core_auditlog_no_early_delete")
        else:
            cursor.execute("DROP TRIGGER core_auditlog_no_update")
        yield cursor
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE core_auditlog ENABLE TRIGGER core_auditlog_no_update")
            cursor.execute("ALTER TABLE core_auditlog ENABLE TRIGGER core_auditlog_no_early_delete")
        else:
            cursor.execute(SQLITE_TRIGGER)


def _request_from(ip: str) -> SimpleNamespace:
    return SimpleNamespace(META={"REMOTE_ADDR": ip})


@pytest.fixture
def chain(regions):
    """A chain written the way the application writes it: services, logins and direct records, mixed."""
    admin = make_user(Role.DISTRICT_ADMIN, "370198", username="admin")
    officer = make_user(Role.STREET_OFFICER, "370198001", username="officer")
    worker = make_user(Role.GRID_WORKER, "370198001001001", username="liming")
    services.change_role(worker, Role.COMMUNITY_WORKER, by=admin)
    services.set_scopes(worker, ["370198001001002"], by=officer)
    for n in range(4):
        record("login", actor=worker, request=_request_from(f"10.0.0.{n}"))
        record("login_failed", actor_name="nobody", request=_request_from("2001:0db8::0001"), attempt=n)
    record("region_switched", actor=officer, target=worker, detail_ratio=1e16, nested={"b": (1, 2), 3: None})
    record("logout", actor=worker)
    return _chain()


def test_every_row_links_to_the_one_before(chain):
    assert [row.seq for row in chain] == list(range(1, len(chain) + 1))
    assert chain[0].prev_hash == GENESIS_HASH
    for before, row in zip(chain, chain[1:], strict=False):
        assert row.prev_hash == before.row_hash
    assert len({row.row_hash for row in chain}) == len(chain)


def test_verify_passes_on_an_untouched_chain(chain):
    report = verify_chain()
    assert report.ok and report.checked == len(chain) == 12
    assert (report.head_seq, report.head_hash) == (chain[-1].seq, chain[-1].row_hash)
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert "12 records verified" in out.getvalue()


def test_the_stored_row_is_what_was_hashed(chain):
    switched = AuditLog.objects.get(action="region_switched")
    assert switched.detail == {"detail_ratio": 10**16, "nested": {"b": [1, 2], "3": None}}
    assert AuditLog.objects.filter(ip="2001:db8::1").count() == 4  # IPv6 stored (and hashed) in short form


def test_verify_detects_an_edited_audit_row(chain):
    victim = chain[5]
    with _triggers_off() as cursor:
        cursor.execute("UPDATE core_auditlog SET actor_name = 'someone else' WHERE id = %s", [victim.pk])
    report = verify_chain()
    assert not report.ok
    assert (report.broken.seq, report.broken.id, report.broken.problem) == (victim.seq, victim.pk, "edited")
    assert report.checked == victim.seq - 1
    assert (report.head_seq, report.head_hash) == (victim.seq - 1, chain[4].row_hash)  # the last good row
    with pytest.raises(CommandError, match=f"seq {victim.seq} \\(id {victim.pk}\\).*edited"):
        call_command("audit", "verify")


# Run as the command line runs it, which closes the connection at the end: outside a test transaction.
@pytest.mark.django_db(transaction=True)
def test_linli_audit_verify_exits_non_zero_on_an_edited_detail(chain, capsys):
    victim = chain[-2]
    with _triggers_off() as cursor:
        cursor.execute("UPDATE core_auditlog SET detail = %s WHERE id = %s", ['{"nested": {}}', victim.pk])
    with pytest.raises(SystemExit) as exit_:
        cli.main(["audit", "verify"])
    assert exit_.value.code != 0
    assert f"seq {victim.seq}" in capsys.readouterr().err
    cli.main(["audit", "verify", "--from", str(victim.seq + 1)])  # the rows after it are intact
    assert "1 records verified" in capsys.readouterr().out


def test_verify_detects_a_row_deleted_from_the_middle(chain):
    victim, successor = chain[6], chain[7]
    with _triggers_off() as cursor:
        cursor.execute("DELETE FROM core_auditlog WHERE id = %s", [victim.pk])
    report = verify_chain()
    assert (report.broken.seq, report.broken.id, report.broken.problem) == (
        successor.seq,
        successor.pk,
        "missing",
    )


def test_verify_detects_a_deleted_row_whose_successors_were_renumbered(chain):
    victim = chain[6]
    with _triggers_off() as cursor:
        cursor.execute("DELETE FROM core_auditlog WHERE id = %s", [victim.pk])
        for row in chain[7:]:
            cursor.execute("UPDATE core_auditlog SET seq = %s WHERE id = %s", [row.seq - 1, row.pk])
    report = verify_chain()
    assert (report.broken.seq, report.broken.id, report.broken.problem) == (victim.seq, chain[7].pk, "link")


def test_verify_detects_a_row_resealed_with_a_wrong_key(chain):
    victim = chain[3]
    forged = AuditLog.objects.get(pk=victim.pk)
    forged.action = "logout"
    content = chain_message(*(getattr(forged, name) for name in CHAIN_FIELDS))
    wrong = hmac_function("hmac-sha256", b"an attacker's guess at the key, 32+ chars")(content)
    with _triggers_off() as cursor:
        cursor.execute(
            "UPDATE core_auditlog SET action = 'logout', row_hash = %s WHERE id = %s", [wrong, victim.pk]
        )
    report = verify_chain()
    assert (report.broken.seq, report.broken.id, report.broken.problem) == (victim.seq, victim.pk, "edited")


def test_verify_detects_a_row_forged_onto_the_end(chain):
    head = chain[-1]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO core_auditlog (at, actor_name, action, target_type, target_id, region_code,"
            " detail, seq, prev_hash, row_hash, hash_algorithm)"
            " VALUES (%s, 'x', 'login', '', '', '', '{}', %s, %s, %s, 'hmac-sha256')",
            [timezone.now(), head.seq + 1, head.row_hash, "f" * 64],
        )
    report = verify_chain()
    assert (report.broken.seq, report.broken.problem) == (head.seq + 1, "edited")


def test_verify_from_a_sequence_number_checks_only_from_there(chain):
    report = verify_chain(from_seq=10)
    assert report.ok and report.checked == len(chain) - 9
    with _triggers_off() as cursor:
        cursor.execute("DELETE FROM core_auditlog WHERE seq = 10")
    assert verify_chain(from_seq=10).broken.problem == "missing"


def test_an_empty_log_verifies(db):
    assert verify_chain().ok and verify_chain().checked == 0


def test_rows_go_in_only_one_by_one(regions):
    with pytest.raises(PermissionError):
        AuditLog.objects.bulk_create([AuditLog(action="login")])


def test_hmac_sm3_is_selectable_and_chains_after_sha256_rows(regions, settings, monkeypatch):
    record("login", actor_name="before")
    settings.LINLI_AUDIT_HASH = "hmac-sm3"
    record("login", actor_name="after")
    assert [row.hash_algorithm for row in _chain()] == ["hmac-sha256", "hmac-sm3"]
    assert verify_chain().ok
    # The cryptography package's HMAC-SM3, used when OpenSSL lacks SM3, gives the same seal.
    pytest.importorskip("cryptography")
    import hmac as std_hmac

    original = std_hmac.new

    def no_sm3(key, msg=None, digestmod=""):
        if digestmod == "sm3":
            raise ValueError("unsupported hash type sm3")
        return original(key, msg, digestmod)

    openssl = hmac_function("hmac-sm3", b"k" * 32)(b"abc")
    monkeypatch.setattr(std_hmac, "new", no_sm3)
    assert hmac_function("hmac-sm3", b"k" * 32)(b"abc") == openssl
    assert verify_chain().ok


def test_an_unknown_algorithm_or_short_key_is_refused(regions, settings):
    settings.LINLI_AUDIT_HASH = "md5"
    with pytest.raises(ImproperlyConfigured):
        record("login", actor_name="x")
    settings.LINLI_AUDIT_HASH = "hmac-sha256"
    settings.LINLI_AUDIT_KEY = "short"
    with pytest.raises(ImproperlyConfigured):
        record("login", actor_name="x")
    assert not AuditLog.objects.exists()


def test_the_key_file_is_generated_once_readable_by_the_owner_only(regions, settings, tmp_path):
    settings.LINLI_AUDIT_KEY = ""
    settings.LINLI_AUDIT_KEY_FILE = tmp_path / "var" / "audit_key"
    first = audit_key()
    assert stat.S_IMODE(os.stat(settings.LINLI_AUDIT_KEY_FILE).st_mode) == 0o600
    assert len(first) == 64 and audit_key() == first
    record("login", actor_name="x")
    assert verify_chain().ok
    settings.LINLI_AUDIT_KEY = "another key entirely, at least thirty-two characters"
    assert verify_chain().broken.problem == "edited"  # the same chain under another key fails at once


# --- Retention ----------------------------------------------------------------------------------------------


def test_purge_refuses_anything_younger_than_180_days(regions):
    record("login", actor_name="x")
    for days in (0, 30, 179):
        with pytest.raises(ValueError):
            purge_audit_older_than(days)
    with pytest.raises(CommandError):
        call_command("audit", "purge", "--older-than-days", "90")
    assert AuditLog.objects.count() == 1


def _aged_chain() -> list[AuditLog]:
    now = timezone.now()
    for days in (400, 300, 200):
        AuditLog.objects.create(action="login", actor_name=f"{days} days ago", at=now - timedelta(days=days))
    record("login", actor_name="recent")
    AuditLog.objects.create(
        action="login", actor_name="old but after a recent one", at=now - timedelta(days=250)
    )
    record("logout", actor_name="recent")
    return _chain()


def test_purge_drops_the_old_prefix_and_the_chain_still_verifies(regions):
    before = _aged_chain()
    assert purge_audit_older_than(250) == 2
    rows = _chain()
    assert [row.actor_name for row in rows][:2] == [
        "200 days ago",
        "recent",
    ]  # only a prefix of the chain goes
    purged = rows[-1]
    assert purged.action == "audit_purged"
    assert purged.detail == {
        "through_seq": 2,
        "through_hash": before[1].row_hash,
        "rows": 2,
        "older_than_days": 250,
    }
    report = verify_chain()
    assert report.ok and report.checked == len(before) - 2 + 1
    assert purge_audit_older_than(180) == 1  # again: the boundary moves on, still verifiable
    assert verify_chain().ok


def test_rows_deleted_past_the_purge_boundary_are_detected(regions):
    _aged_chain()
    purge_audit_older_than(250)
    first = _chain()[0]
    with _triggers_off() as cursor:
        cursor.execute("DELETE FROM core_auditlog WHERE id = %s", [first.pk])
    report = verify_chain()
    assert (report.broken.seq, report.broken.problem) == (first.seq + 1, "start")


def test_a_chain_cut_at_its_start_without_a_purge_record_is_detected(regions):
    _aged_chain()
    with _triggers_off() as cursor:
        cursor.execute("DELETE FROM core_auditlog WHERE seq = 1")
    assert verify_chain().broken.problem == "start"


# --- Concurrency and migration ------------------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need a server database")
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_take_the_same_link():
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def write(n: int) -> None:
        try:
            start.wait()
            for i in range(15):
                if i % 2:
                    with transaction.atomic():  # as inside a service's transaction, with other work after
                        record("login", actor_name=f"writer {n}", region_code="", i=i)
                        time.sleep(0.001)
                else:
                    record("login", actor_name=f"writer {n}", region_code="", i=i)
        except BaseException as error:  # noqa: BLE001 (reported by the test below)
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(AuditLog.objects.values_list("seq", flat=True)) == list(range(1, 121))
    report = verify_chain()
    assert report.ok and report.checked == 120


@pytest.mark.django_db(transaction=True)
def test_the_migration_chains_rows_written_before_it():
    executor = MigrationExecutor(connection)
    executor.migrate([("core", "0003_auditlog_actor_protect")])
    try:
        with connection.cursor() as cursor:
            for n in range(5):
                cursor.execute(
                    "INSERT INTO core_auditlog (at, actor_name, action, target_type, target_id, region_code,"
                    " ip, detail) VALUES (%s, %s, 'login', '', '', '370198', %s, %s)",
                    [timezone.now(), f"user {n}", "2001:db8::7" if n == 2 else None, '{"b": [1.5], "a": 1}'],
                )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    rows = _chain()
    assert [row.actor_name for row in rows] == [f"user {n}" for n in range(5)]
    assert verify_chain().ok and verify_chain().checked == 5
    record("logout", actor_name="user 4", region_code="")
    assert verify_chain().checked == 6
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditlog SET action = 'logout' WHERE id = %s", [rows[0].pk])
