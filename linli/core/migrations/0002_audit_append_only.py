"""Make the audit log append-only in the database itself, so that not even raw SQL edits or deletes a row."""

from django.db import migrations

# Rows are never updated. Deleting is refused for rows younger than the 180-day retention period, so that a
# retention job can still drop old rows. On SQLite (the embedded mode) only updates are refused in the database,
# because Django's test flush deletes rows; the ORM refuses deletes there, and the hash chain reveals them.
SQLITE = [
    """CREATE TRIGGER core_auditlog_no_update BEFORE UPDATE ON core_auditlog
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
]
SQLITE_UNDO = ["DROP TRIGGER core_auditlog_no_update"]

POSTGRESQL = [
    """CREATE FUNCTION core_auditlog_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$""",
    """CREATE TRIGGER core_auditlog_no_update BEFORE UPDATE ON core_auditlog
       FOR EACH ROW EXECUTE FUNCTION core_auditlog_append_only()""",
    """CREATE TRIGGER core_auditlog_no_early_delete BEFORE DELETE ON core_auditlog
       FOR EACH ROW WHEN (OLD.at > now() - interval '180 days') EXECUTE FUNCTION core_auditlog_append_only()""",
]
POSTGRESQL_UNDO = [
    "DROP TRIGGER core_auditlog_no_early_delete ON core_auditlog",
    "DROP TRIGGER core_auditlog_no_update ON core_auditlog",
    "DROP FUNCTION core_auditlog_append_only()",
]


def run(statements_by_vendor):
    def apply(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [
        migrations.RunPython(
            run({"sqlite": SQLITE, "postgresql": POSTGRESQL}),
            run({"sqlite": SQLITE_UNDO, "postgresql": POSTGRESQL_UNDO}),
        )
    ]
