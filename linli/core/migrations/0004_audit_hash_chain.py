"""Chain the audit log: seq, previous hash and row hash (an HMAC under the audit key), backfilled in id order.

Rows already present are updated once here, so the update trigger of 0002 is set aside for the backfill and
put back right after (on SQLite every table rebuild of this migration drops it too, so the last step
recreates it). The hash is computed with ``linli.core.audit`` itself: the chain has one definition.
"""

from django.db import migrations, models

SQLITE_TRIGGER = """CREATE TRIGGER core_auditlog_no_update BEFORE UPDATE ON core_auditlog
   BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"""
BATCH = 2000


def _set_update_trigger(schema_editor, enabled: bool) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS core_auditlog_no_update")
        if enabled:
            schema_editor.execute(SQLITE_TRIGGER)
    elif vendor == "postgresql":
        state = "ENABLE" if enabled else "DISABLE"
        schema_editor.execute(f"ALTER TABLE core_auditlog {state} TRIGGER core_auditlog_no_update")


def restore_trigger(apps, schema_editor):
    _set_update_trigger(schema_editor, enabled=True)


def backfill(apps, schema_editor):
    from linli.core.audit import (
        CHAIN_FIELDS,
        GENESIS_HASH,
        audit_key,
        chain_message,
        configured_algorithm,
        hmac_function,
    )

    AuditLog = apps.get_model("core", "AuditLog")
    rows = AuditLog.objects.using(schema_editor.connection.alias)
    if not rows.exists():
        return
    algorithm = configured_algorithm()
    seal = hmac_function(algorithm, audit_key())
    _set_update_trigger(schema_editor, enabled=False)
    seq, prev_hash, last_id = 0, GENESIS_HASH, 0
    while batch := list(rows.filter(id__gt=last_id).order_by("id")[:BATCH]):
        for row in batch:
            seq += 1
            row.seq, row.prev_hash, row.hash_algorithm = seq, prev_hash, algorithm
            row.row_hash = prev_hash = seal(chain_message(*(getattr(row, name) for name in CHAIN_FIELDS)))
        rows.bulk_update(batch, ["seq", "prev_hash", "row_hash", "hash_algorithm"])
        last_id = batch[-1].id
    _set_update_trigger(schema_editor, enabled=True)


class Migration(migrations.Migration):
    dependencies = [("core", "0003_auditlog_actor_protect")]

    operations = [
        # Undone last when migrating back: the table rebuilds of the reversed steps drop SQLite's trigger.
        migrations.RunPython(migrations.RunPython.noop, restore_trigger),
        migrations.AddField(
            model_name="auditlog",
            name="seq",
            field=models.PositiveBigIntegerField(editable=False, null=True, verbose_name="sequence number"),
        ),
        migrations.AddField(
            model_name="auditlog",
            name="prev_hash",
            field=models.CharField(default="", editable=False, max_length=64, verbose_name="previous hash"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditlog",
            name="row_hash",
            field=models.CharField(default="", editable=False, max_length=64, verbose_name="row hash"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditlog",
            name="hash_algorithm",
            field=models.CharField(
                choices=[("hmac-sha256", "HMAC-SHA256"), ("hmac-sm3", "HMAC-SM3")],
                default="hmac-sha256",
                editable=False,
                max_length=16,
                verbose_name="hash algorithm",
            ),
            preserve_default=False,
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditlog",
            name="seq",
            field=models.PositiveBigIntegerField(editable=False, unique=True, verbose_name="sequence number"),
        ),
        migrations.RunPython(restore_trigger, migrations.RunPython.noop),
    ]
