from decimal import Decimal

from django.db import migrations

URGENT = "urgent"
NORMAL = "normal"


def seed(apps, schema_editor):
    seed_categories(apps)


def seed_categories(apps):
    """Also called after a test database flush (see linli.grid.seed), so it must be idempotent."""
    from linli.grid.seed import CATEGORIES

    Category = apps.get_model("grid", "Category")
    TimeLimit = apps.get_model("grid", "TimeLimit")
    for code, name, name_en, kind, scheme, minors in CATEGORIES:
        major, _ = Category.objects.get_or_create(
            code=code, defaults={"name": name, "name_en": name_en, "kind": kind, "code_scheme": scheme}
        )
        for m_code, m_name, m_en, filing, closing, normal, urgent in minors:
            minor, created = Category.objects.get_or_create(
                code=m_code,
                defaults={
                    "name": m_name,
                    "name_en": m_en,
                    "parent": major,
                    "kind": kind,
                    "code_scheme": scheme,
                    "filing_condition": filing,
                    "closing_condition": closing,
                    "public": not code.startswith("IOT"),
                },
            )
            if not created:
                continue
            for urgency, limit in ((NORMAL, normal), (URGENT, urgent)):
                if limit is not None:
                    TimeLimit.objects.create(
                        category=minor, stage="handle", urgency=urgency, amount=Decimal(str(limit[0])), unit=limit[1]
                    )


class Migration(migrations.Migration):
    dependencies = [("grid", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
