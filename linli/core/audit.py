"""The audit log: who did what to whom, when and from where. Append-only and hash-chained.

Every security-relevant action (logins, lockouts, role and scope changes, later unmasking and exports) calls
``record``; nothing updates or deletes a row, and the database refuses it too (triggers in migration 0002).

Each row carries ``seq`` (1, 2, 3 … with no gaps), the previous row's hash and its own: an HMAC, under a key
kept outside the database, of the row's content and the previous hash. ``verify_chain`` (the command
``linli audit verify``) walks the chain and names the first row that was edited, deleted or inserted. Old
rows leave only through ``purge_audit_older_than``, which writes the purged boundary into the chain itself.
See docs/security.md.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, models, router, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .scope import ScopedQuerySet

log = logging.getLogger("linli.audit")

RETENTION_DAYS = 180  # 网络安全法 Art. 21: network logs are kept at least six months
GENESIS_HASH = "0" * 64  # the "previous hash" of seq 1
MIN_KEY_LENGTH = 32
# Key of the PostgreSQL advisory lock that serialises appends ("linli" in ASCII); any fixed number would do.
CHAIN_LOCK_ID = 0x6C696E6C69


class AuditAction(models.TextChoices):
    LOGIN = "login", _("Logged in")
    LOGIN_FAILED = "login_failed", _("Login failed")
    LOCKED_OUT = "locked_out", _("Account locked")
    LOGOUT = "logout", _("Logged out")
    IDLE_TIMEOUT = "idle_timeout", _("Session ended after inactivity")
    TOTP_ENROLLED = "totp_enrolled", _("Two-factor enrolled")
    TOTP_FAILED = "totp_failed", _("Two-factor code rejected")
    PASSWORD_CHANGED = "password_changed", _("Password changed")
    USER_CREATED = "user_created", _("Account created")
    ROLE_CHANGED = "role_changed", _("Role changed")
    SCOPE_CHANGED = "scope_changed", _("Scope changed")
    DEMO_BUILT = "demo_district_built", _("Demo district built")
    REGION_SWITCHED = "region_switched", _("Region switched")
    AUDIT_PURGED = "audit_purged", _("Old audit records purged")
    GRID_FIGURES_EXPORTED = "grid_figures_exported", _("Grid figures exported")
    CALENDAR_CHANGED = "calendar_changed", _("Working calendar changed")
    CALENDAR_SEEDED = "calendar_seeded", _("Working calendar seeded")
    EXCHANGE_CLIENT_CREATED = "exchange_client_created", _("API client created")
    EXCHANGE_KEY_ROTATED = "exchange_key_rotated", _("API client key replaced")
    EXCHANGE_CLIENT_REVOKED = "exchange_client_revoked", _("API client revoked")
    EXCHANGE_CLIENT_CHANGED = "exchange_client_changed", _("API client changed")


class HashAlgorithm(models.TextChoices):
    HMAC_SHA256 = "hmac-sha256", "HMAC-SHA256"
    HMAC_SM3 = "hmac-sm3", "HMAC-SM3"


class AppendOnlyQuerySet(ScopedQuerySet):
    def update(self, **kwargs):
        raise PermissionError("The audit log is append-only.")

    def delete(self):
        raise PermissionError("The audit log is append-only.")

    def bulk_create(self, *args, **kwargs):
        # bulk_create skips save(), which links each row into the hash chain.
        raise PermissionError("Audit rows are written one by one with record().")


class AuditLog(models.Model):
    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        "core.User",
        verbose_name=_("actor"),
        null=True,
        blank=True,
        # An account named in the log cannot be deleted (deactivate it instead): the log never changes.
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_name = models.CharField(_("actor name"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=40, db_index=True)
    target_type = models.CharField(_("target type"), max_length=60, blank=True)
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    region_code = models.CharField(_("region code"), max_length=15, blank=True, db_index=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    seq = models.PositiveBigIntegerField(_("sequence number"), unique=True, editable=False)
    prev_hash = models.CharField(_("previous hash"), max_length=64, editable=False)
    row_hash = models.CharField(_("row hash"), max_length=64, editable=False)
    hash_algorithm = models.CharField(
        _("hash algorithm"), max_length=16, choices=HashAlgorithm.choices, editable=False
    )

    objects = AppendOnlyQuerySet.as_manager()
    scope_field = "region_code"

    class Meta:
        app_label = "core"
        verbose_name = _("audit record")
        verbose_name_plural = _("audit log")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action}"

    def save(self, *args, **kwargs):
        """Append the row to the hash chain: take the chain lock, link to the head, seal with the HMAC."""
        if self.pk is not None:
            raise PermissionError("The audit log is append-only.")
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        self.ip = self._meta.get_field("ip").get_prep_value(self.ip) or None
        self.detail = _as_stored(self.detail)
        algorithm = configured_algorithm()
        seal = hmac_function(algorithm, audit_key())
        with transaction.atomic(using=using):
            lock_chain(using)
            head = AuditLog._base_manager.using(using).order_by("-seq").values_list("seq", "row_hash").first()
            self.seq, self.prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
            self.hash_algorithm = algorithm
            self.row_hash = seal(chain_message(*(getattr(self, name) for name in CHAIN_FIELDS)))
            super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit log is append-only.")


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


def record(
    action: str,
    *,
    actor=None,
    actor_name: str = "",
    request=None,
    target=None,
    region_code: str | None = None,
    **detail,
) -> AuditLog:
    """Write one audit row. The region defaults to the actor's widest scope, so auditors there see it."""
    if region_code is None:
        scoped = actor is not None and actor.scope_codes
        region_code = actor.scope_codes[0] if scoped else default_region_code()
    entry = AuditLog.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        actor_name=actor_name or (actor.username if actor is not None else ""),
        action=action,
        target_type=target._meta.label if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        region_code=region_code,
        ip=client_ip(request),
        detail=detail,
    )
    # The sequence number and hash in the application log (collected centrally, LG-05) anchor the chain's head
    # outside the database: cutting rows off the end of the chain shows against them.
    log.info(
        "audit %s actor=%s target=%s:%s seq=%s hash=%s",
        action,
        entry.actor_name,
        entry.target_type,
        entry.target_id,
        entry.seq,
        entry.row_hash[:16],
    )
    return entry


def default_region_code() -> str:
    """Where events without a scoped actor (say a failed login for an unknown name) go: the first district."""
    from .models import Region

    return Region.objects.filter(parent=None).order_by("code").values_list("code", flat=True).first() or ""


# --- The hash chain ----------------------------------------------------------------------------------------

# What a row's HMAC covers, in this order; everything but the id (a database detail) and the hash itself.
CHAIN_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor_name",
    "action",
    "target_type",
    "target_id",
    "region_code",
    "ip",
    "detail",
    "prev_hash",
)
_canonical_json = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode


def chain_message(
    seq, at, actor_id, actor_name, action, target_type, target_id, region_code, ip, detail, prev_hash
) -> bytes:
    """The canonical bytes a row's HMAC is taken over: compact JSON, keys sorted, time in UTC."""
    moment = at.astimezone(UTC).isoformat(timespec="microseconds")
    return _canonical_json(
        [
            seq,
            moment,
            actor_id,
            actor_name,
            action,
            target_type,
            target_id,
            region_code,
            ip,
            detail,
            prev_hash,
        ]
    ).encode()


def _stable_float(text: str) -> float | int:
    # PostgreSQL's jsonb prints 1e+16 back as 10000000000000000, an integer; store it that way to begin with.
    number = float(text)
    if ("e" in text or "E" in text) and number.is_integer():
        return int(Decimal(text))
    return number


def _as_stored(detail):
    """The detail as either database returns it (string keys, lists, jsonb's numbers), so it hashes alike."""
    return json.loads(json.dumps(detail), parse_float=_stable_float)


def configured_algorithm() -> str:
    algorithm = settings.LINLI_AUDIT_HASH
    if algorithm not in HashAlgorithm.values:
        raise ImproperlyConfigured(f"LINLI_AUDIT_HASH must be one of {', '.join(HashAlgorithm.values)}.")
    return algorithm


def hmac_function(algorithm: str, key: bytes) -> Callable[[bytes], str]:
    """A function giving the hex HMAC of a message under ``key``; SM3 from OpenSSL, else from cryptography."""
    digest = {HashAlgorithm.HMAC_SHA256: "sha256", HashAlgorithm.HMAC_SM3: "sm3"}[HashAlgorithm(algorithm)]
    try:
        keyed = hmac.new(key, digestmod=digest)
    except ValueError:  # an OpenSSL built without SM3
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives import hmac as crypto_hmac

        def crypto_seal(message: bytes) -> str:
            mac = crypto_hmac.HMAC(key, hashes.SM3())
            mac.update(message)
            return mac.finalize().hex()

        return crypto_seal

    def seal(message: bytes) -> str:
        mac = keyed.copy()  # the key schedule is done once
        mac.update(message)
        return mac.hexdigest()

    return seal


def audit_key() -> bytes:
    """The chain's HMAC key: LINLI_AUDIT_KEY, else the key file (generated, mode 0600, on first use)."""
    key = settings.LINLI_AUDIT_KEY or _key_from_file(Path(settings.LINLI_AUDIT_KEY_FILE))
    if len(key) < MIN_KEY_LENGTH:
        raise ImproperlyConfigured(
            f"The audit key must have at least {MIN_KEY_LENGTH} characters; "
            "make one with: python -c 'import secrets; print(secrets.token_hex(32))'"
        )
    return key.encode()


def _key_from_file(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and linked into place, so two processes starting at once agree on one key.
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        try:
            os.link(draft, path)
            log.warning("generated a new audit key in %s; back it up apart from the database", path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    if path.stat().st_mode & 0o077:
        log.warning("the audit key file %s is readable by others; chmod 600 it", path)
    return path.read_text().strip()


def lock_chain(using: str = DEFAULT_DB_ALIAS) -> None:
    """Serialise appends until the transaction ends, so no two writers link to the same head.

    PostgreSQL: a transaction-level advisory lock. SQLite: the IMMEDIATE transaction that ``atomic`` opens
    (settings) already holds the database's write lock. Callers are inside ``transaction.atomic``.
    """
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_ID])


@dataclass(frozen=True)
class ChainBreak:
    """The first row where the chain does not hold, and what is wrong there."""

    seq: int
    id: int
    problem: str  # "edited", "missing", "start" or "link"
    message: str


@dataclass(frozen=True)
class ChainReport:
    """What a verification found: rows checked, time taken, the last good row, and the break if any."""

    checked: int
    seconds: float
    head_seq: int | None = None
    head_hash: str = ""
    broken: ChainBreak | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify_chain(
    *, from_seq: int | None = None, chunk_size: int = 5000, using: str = DEFAULT_DB_ALIAS
) -> ChainReport:
    """Walk the chain in ``seq`` order and stop at the first row that was edited, removed or inserted."""
    started = time.monotonic()
    key = audit_key()
    seals: dict[str, Callable[[bytes], str]] = {}
    rows = AuditLog._base_manager.using(using).order_by("seq")
    if from_seq is not None:
        rows = rows.filter(seq__gte=from_seq)
    expected_seq, expected_prev = from_seq, None
    checked = 0

    def report(broken: ChainBreak | None = None) -> ChainReport:
        # The head is the last row that verified.
        head_seq = expected_seq - 1 if checked and expected_seq is not None else None
        return ChainReport(checked, time.monotonic() - started, head_seq, expected_prev or "", broken)

    columns = rows.values_list("id", "row_hash", "hash_algorithm", *CHAIN_FIELDS)
    for row_id, row_hash, algorithm, *content in columns.iterator(chunk_size=chunk_size):
        seq, prev_hash = content[0], content[-1]
        if expected_prev is None and from_seq is None:
            if problem := _start_problem(seq, prev_hash, using):
                return report(ChainBreak(seq, row_id, "start", problem))
            expected_seq = seq
        elif seq != expected_seq:
            return report(
                ChainBreak(
                    seq, row_id, "missing", f"expected seq {expected_seq} before this row: rows were deleted"
                )
            )
        elif expected_prev is not None and prev_hash != expected_prev:
            return report(
                ChainBreak(
                    seq,
                    row_id,
                    "link",
                    "its previous hash is not the hash of the row before: a row was removed or inserted",
                )
            )
        seal = seals.get(algorithm)
        if seal is None:
            if algorithm not in HashAlgorithm.values:
                return report(ChainBreak(seq, row_id, "edited", f"unknown hash algorithm {algorithm!r}"))
            seal = seals[algorithm] = hmac_function(algorithm, key)
        if seal(chain_message(*content)) != row_hash:
            return report(
                ChainBreak(seq, row_id, "edited", "its content does not match its hash: the row was edited")
            )
        checked += 1
        expected_seq, expected_prev = seq + 1, row_hash
    return report()


def _start_problem(first_seq: int, prev_hash: str, using: str) -> str:
    """Why the chain may not start at this row, or "" when it may: seq 1, or right after a recorded purge."""
    if first_seq == 1:
        return "" if prev_hash == GENESIS_HASH else "the first row does not start from the genesis hash"
    purges = AuditLog._base_manager.using(using).filter(
        action=AuditAction.AUDIT_PURGED, seq__gt=first_seq, detail__through_seq=first_seq - 1
    )
    # The purge row itself is sealed like any other; the walk checks it when it gets there.
    if any(detail.get("through_hash") == prev_hash for detail in purges.values_list("detail", flat=True)):
        return ""
    return f"the chain starts at seq {first_seq} and no purge record accounts for the rows before it"


def purge_audit_older_than(days: int, *, actor_name: str = "retention") -> int:
    """Delete the oldest rows, all older than ``days`` (at least 180), and record the boundary in the chain.

    Only a prefix of the chain goes: up to the first row that is still inside the period. The ``audit_purged``
    row that follows names the last purged seq and its hash, which is where verification then starts.
    """
    if days < RETENTION_DAYS:
        raise ValueError(
            f"Audit records are kept at least {RETENTION_DAYS} days; refusing to purge those {days} days old."
        )
    cutoff = timezone.now() - timedelta(days=days)
    using = router.db_for_write(AuditLog)
    rows = AuditLog._base_manager.using(using)
    with transaction.atomic(using=using):
        lock_chain(using)
        first_kept = rows.filter(at__gte=cutoff).order_by("seq").values_list("seq", flat=True).first()
        prefix = rows.filter(seq__lt=first_kept) if first_kept is not None else rows.all()
        last = prefix.order_by("-seq").values_list("seq", "row_hash").first()
        if last is None:
            return 0
        with connections[using].cursor() as cursor:
            cursor.execute(f"DELETE FROM {AuditLog._meta.db_table} WHERE seq <= %s", [last[0]])  # noqa: S608
            purged = cursor.rowcount
        record(
            AuditAction.AUDIT_PURGED,
            actor_name=actor_name,
            through_seq=last[0],
            through_hash=last[1],
            rows=purged,
            older_than_days=days,
        )
    return purged
