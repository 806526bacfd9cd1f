"""Re-encryption and re-indexing of every encrypted field, for key rotation while the service keeps running.

Rows are found by introspection of all installed models and rewritten in small batches, each in its own short
transaction. An update only lands if the row still holds the ciphertext that was read (compare-and-set), so a
concurrent edit by the running service is never overwritten; such a row is picked up again by the next pass.
Raw SQL is used on purpose: it reads and writes ciphertext as stored and fires no model signals.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from django.apps import apps
from django.db import connections, models, router, transaction

from . import crypto
from .fields import blind_index_fields, encrypted_fields
from .keys import Keyring, get_keyring

MAX_PASSES = 5


def models_with(
    kind: str, candidates: Iterable[type[models.Model]] | None = None
) -> Iterator[type[models.Model]]:
    """Models whose own table exists and holds encrypted fields (``kind="encrypted"``) or blind indexes."""
    select = encrypted_fields if kind == "encrypted" else blind_index_fields
    tables: dict[str, set[str]] = {}
    for model in candidates if candidates is not None else apps.get_models():
        if model._meta.proxy or not select(model):
            continue
        alias = router.db_for_write(model)
        if alias not in tables:
            tables[alias] = set(connections[alias].introspection.table_names())
        if model._meta.db_table in tables[alias]:
            yield model


def _names(model: type[models.Model], *columns: str) -> tuple[str, ...]:
    quote = connections[router.db_for_write(model)].ops.quote_name
    return tuple(quote(c) for c in (model._meta.db_table, model._meta.pk.column, *columns))


def stale_count(
    model: type[models.Model], keyring: Keyring | None = None, algorithm: str | None = None
) -> int:
    """How many rows of ``model`` hold a ciphertext not written with the current key and cipher."""
    where, params = _stale_condition(model, keyring or get_keyring(), algorithm or crypto.configured_cipher())
    table, _pk = _names(model)
    with connections[router.db_for_write(model)].cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", params)
        return cursor.fetchone()[0]


def _stale_condition(model, keyring: Keyring, algorithm: str) -> tuple[str, list[str]]:
    fields = encrypted_fields(model)
    columns = _names(model, *(f.column for f in fields))[2:]
    prefix = crypto.token_prefix(algorithm, keyring.data.current) + "%"  # key ids and names hold no wildcards
    where = " OR ".join(f"({c} IS NOT NULL AND {c} <> '' AND {c} NOT LIKE %s)" for c in columns)
    return where, [prefix] * len(columns)


def reencrypt_model(
    model: type[models.Model], *, batch_size: int = 500, keyring: Keyring | None = None
) -> Counter[str]:
    """Re-encrypt every stale ciphertext of ``model`` with the current key; counts updated and failed."""
    keyring = keyring or get_keyring()
    algorithm = crypto.configured_cipher()
    fields = encrypted_fields(model)
    table, pk, *columns = _names(model, *(f.column for f in fields))
    where, where_params = _stale_condition(model, keyring, algorithm)
    alias = router.db_for_write(model)
    counts: Counter[str] = Counter()
    for _pass in range(MAX_PASSES):
        last_pk, updated, failed = None, 0, 0
        while True:
            after = f" AND {pk} > %s" if last_pk is not None else ""
            params = [*where_params, *([last_pk] if last_pk is not None else []), batch_size]
            with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
                select = f"SELECT {pk}, {', '.join(columns)} FROM {table}"
                cursor.execute(f"{select} WHERE ({where}){after} ORDER BY {pk} LIMIT %s", params)
                rows = cursor.fetchall()
                for row_pk, *values in rows:
                    changes = []
                    for field, column, old in zip(fields, columns, values, strict=True):
                        if not old or not crypto.needs_reencryption(old, keyring, algorithm):
                            continue
                        aad = field.associated_data
                        try:
                            plaintext = crypto.decrypt(old, associated_data=aad, keyring=keyring)
                        except crypto.DecryptionError:
                            failed += 1  # left as it is, for a person to look at
                            continue
                        changes.append(
                            (column, crypto.encrypt(plaintext, associated_data=aad, keyring=keyring), old)
                        )
                    if not changes:
                        continue
                    sets = ", ".join(f"{column} = %s" for column, _, _ in changes)
                    checks = " AND ".join(f"{column} = %s" for column, _, _ in changes)
                    cursor.execute(
                        f"UPDATE {table} SET {sets} WHERE {pk} = %s AND {checks}",
                        [*(new for _, new, _ in changes), row_pk, *(old for _, _, old in changes)],
                    )
                    updated += cursor.rowcount
            if len(rows) < batch_size:
                break
            last_pk = rows[-1][0]
        counts["reencrypted"] += updated
        counts["failed"] = failed
        if not updated:  # a pass that changed nothing: all done, but for values that cannot be decrypted
            break
    return counts


def reindex_model(model: type[models.Model], *, batch_size: int = 500) -> Counter[str]:
    """Recompute every blind index of ``model`` under the current blind-index key; counts of rows changed."""
    indexes = blind_index_fields(model)
    sources = [index.source_field for index in indexes]
    table, pk, *columns = _names(model, *(s.column for s in sources), *(i.column for i in indexes))
    source_columns, index_columns = columns[: len(sources)], columns[len(sources) :]
    alias = router.db_for_write(model)
    counts: Counter[str] = Counter()
    last_pk = None
    while True:
        after = f"WHERE {pk} > %s " if last_pk is not None else ""
        params = [*([last_pk] if last_pk is not None else []), batch_size]
        with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
            cursor.execute(
                f"SELECT {pk}, {', '.join(columns)} FROM {table} {after}ORDER BY {pk} LIMIT %s",
                params,
            )
            rows = cursor.fetchall()
            for row_pk, *values in rows:
                tokens, stored = values[: len(sources)], values[len(sources) :]
                for index, source, source_column, index_column, token, old in zip(
                    indexes, sources, source_columns, index_columns, tokens, stored, strict=True
                ):
                    try:
                        plaintext = (
                            crypto.decrypt(token, associated_data=source.associated_data) if token else token
                        )
                    except crypto.DecryptionError:
                        counts["failed"] += 1
                        continue
                    new = index.compute(plaintext)
                    if new == old:
                        continue
                    source_check = (
                        f"{source_column} = %s" if token is not None else f"{source_column} IS NULL"
                    )
                    cursor.execute(
                        f"UPDATE {table} SET {index_column} = %s WHERE {pk} = %s AND {source_check}",
                        [new, row_pk, *([token] if token is not None else [])],
                    )
                    counts["reindexed"] += cursor.rowcount
        if len(rows) < batch_size:
            break
        last_pk = rows[-1][0]
    return counts
