"""The time-series table: partitioned by month of ``ts`` on PostgreSQL, a plain table on SQLite.

Django's state sees one ordinary model; the database side differs by vendor. Partitions for the retention
window and two months ahead are created here; later ones by the sweep (``linli manage iot_sweep``) and on
demand by the pipeline.
"""

import django.db.models.deletion
from django.db import migrations, models


def create_table(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.create_model(apps.get_model("iot", "Telemetry"))
        return
    schema_editor.execute(
        "CREATE TABLE iot_telemetry (device_id bigint NOT NULL, key varchar(64) NOT NULL, ts bigint NOT NULL, "
        "num double precision, str text, bool boolean, PRIMARY KEY (device_id, key, ts)) PARTITION BY RANGE (ts)"
    )
    from linli.iot import storage

    storage.forget_partitions()
    now = storage.clock.now()
    for delta in range(-storage.retention_months(), 3):
        year, month = storage.add_months(now.year, now.month, delta)
        nxt = storage.add_months(year, month, 1)
        schema_editor.execute(
            f"CREATE TABLE {storage.partition_name(year, month)} PARTITION OF iot_telemetry "
            f"FOR VALUES FROM ({storage.month_start(year, month)}) TO ({storage.month_start(*nxt)})"
        )


def drop_table(apps, schema_editor):
    schema_editor.execute("DROP TABLE iot_telemetry")


class Migration(migrations.Migration):
    dependencies = [("iot", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Telemetry",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey(
                                "device_id", "key", "ts", blank=True, editable=False, primary_key=True, serialize=False
                            ),
                        ),
                        ("key", models.CharField(max_length=64, verbose_name="key")),
                        ("ts", models.BigIntegerField(verbose_name="time (epoch ms)")),
                        ("num", models.FloatField(null=True)),
                        ("str", models.TextField(null=True)),
                        ("bool", models.BooleanField(null=True)),
                        (
                            "device",
                            models.ForeignKey(
                                db_constraint=False,
                                db_index=False,
                                on_delete=django.db.models.deletion.DO_NOTHING,
                                related_name="+",
                                to="iot.device",
                                verbose_name="device",
                            ),
                        ),
                    ],
                    options={"verbose_name": "data point", "verbose_name_plural": "data points"},
                ),
            ],
        ),
        # After the state operation, so that the model exists for create_model() on SQLite.
        migrations.RunPython(create_table, drop_table),
    ]
