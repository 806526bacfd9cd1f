"""TOTP secrets become encrypted at rest like every other personal secret; existing ones are encrypted in place."""

from django.db import migrations

import linli.core.pii.fields

COLUMN = "core_user.totp_secret"  # the field's associated data: <table>.<column>


def encrypt_existing(apps, schema_editor):
    from linli.core.pii import crypto

    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, totp_secret FROM core_user WHERE totp_secret <> '' AND totp_secret NOT LIKE 'v1:%%'"
        )
        rows = cursor.fetchall()
        for pk, secret in rows:
            token = crypto.encrypt(secret, associated_data=COLUMN)
            cursor.execute("UPDATE core_user SET totp_secret = %s WHERE id = %s", [token, pk])


def decrypt_existing(apps, schema_editor):
    from linli.core.pii import crypto

    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT id, totp_secret FROM core_user WHERE totp_secret LIKE 'v1:%%'")
        for pk, token in cursor.fetchall():
            secret = crypto.decrypt(token, associated_data=COLUMN)
            cursor.execute("UPDATE core_user SET totp_secret = %s WHERE id = %s", [secret, pk])


class Migration(migrations.Migration):
    dependencies = [("core", "0004_audit_hash_chain")]

    operations = [
        migrations.AlterField(
            model_name="user",
            name="totp_secret",
            field=linli.core.pii.fields.EncryptedCharField(
                blank=True, max_length=64, verbose_name="TOTP secret"
            ),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
    ]
