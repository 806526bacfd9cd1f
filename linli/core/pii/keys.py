"""The keyring for personal-data encryption and blind indexes, kept outside the database.

Keys come from the environment (``LINLI_KEYS``, the keyring as JSON, for deployments with a secret store) or
from the key file ``settings.LINLI_KEY_FILE`` (default ``var/keys.json``, mode 0600), which the embedded mode
creates on first use. The keyring holds versioned data-encryption keys, one of which is *current* for new
writes while the others still decrypt, and the blind-index keys (see ``docs/security-keys.md``)::

    {"format": 1,
     "data_keys": {"current": "k2", "keys": {"k1": {"key": "<base64 of 32 bytes>", "created": "..."}, ...}},
     "blind_index_keys": {"current": "b1", "keys": {"b1": {"key": "...", "created": "..."}}}}

A process notices a rewritten key file (its modification time changes) at its next use of the keyring, so a
key rotation reaches running services without a restart. Keys from ``LINLI_KEYS`` change only with a restart.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEY_BYTES = 32
KEYRING_FORMAT = 1
ENV_VAR = "LINLI_KEYS"
# Key ids appear in every ciphertext and in SQL LIKE patterns: keep them short and free of wildcards.
KEY_ID = re.compile(r"^[a-z][a-z0-9]{0,15}$")


class KeyringError(ImproperlyConfigured):
    """The keyring is missing, unreadable or malformed."""


@dataclass(frozen=True)
class KeySet:
    """Versioned keys of one purpose; ``current`` names the key for new writes."""

    prefix: str
    current: str
    keys: Mapping[str, bytes]
    created: Mapping[str, str] = field(default_factory=dict)

    def get(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise KeyError(f"no key {key_id!r} in the keyring") from None

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current]

    def with_new_key(self) -> KeySet:
        """This set plus a fresh random key, which becomes current; the old keys stay for reading."""
        numbers = [int(k[len(self.prefix) :]) for k in self.keys if k[len(self.prefix) :].isdigit()]
        key_id = f"{self.prefix}{max(numbers, default=0) + 1}"
        return KeySet(
            self.prefix,
            key_id,
            {**self.keys, key_id: secrets.token_bytes(KEY_BYTES)},
            {**self.created, key_id: datetime.now(UTC).isoformat(timespec="seconds")},
        )

    def only_current(self) -> KeySet:
        return KeySet(
            self.prefix,
            self.current,
            {self.current: self.current_key},
            {k: v for k, v in self.created.items() if k == self.current},
        )

    def to_json(self) -> dict:
        return {
            "current": self.current,
            "keys": {
                key_id: {"key": base64.b64encode(key).decode(), "created": self.created.get(key_id, "")}
                for key_id, key in self.keys.items()
            },
        }

    @classmethod
    def from_json(cls, prefix: str, data: Mapping) -> KeySet:
        keys, created = {}, {}
        for key_id, entry in data["keys"].items():
            if not KEY_ID.match(key_id):
                raise KeyringError(
                    f"Key id {key_id!r} must be a lower-case letter followed by letters or digits."
                )
            key = base64.b64decode(entry["key"], validate=True)
            if len(key) != KEY_BYTES:
                raise KeyringError(f"Key {key_id!r} must be {KEY_BYTES} bytes, not {len(key)}.")
            keys[key_id], created[key_id] = key, entry.get("created", "")
        if data["current"] not in keys:
            raise KeyringError(f"The current key {data['current']!r} is not in the keyring.")
        return cls(prefix, data["current"], keys, created)

    @classmethod
    def generate(cls, prefix: str) -> KeySet:
        return cls(prefix, "", {}).with_new_key()


@dataclass(frozen=True)
class Keyring:
    """Data-encryption keys and blind-index keys."""

    data: KeySet
    blind: KeySet

    @classmethod
    def generate(cls) -> Keyring:
        return cls(KeySet.generate("k"), KeySet.generate("b"))

    def with_new_data_key(self) -> Keyring:
        return replace(self, data=self.data.with_new_key())

    def with_new_blind_key(self) -> Keyring:
        return replace(self, blind=self.blind.with_new_key())

    def without_old_blind_keys(self) -> Keyring:
        return replace(self, blind=self.blind.only_current())

    def to_json(self) -> str:
        document = {
            "format": KEYRING_FORMAT,
            "data_keys": self.data.to_json(),
            "blind_index_keys": self.blind.to_json(),
        }
        return json.dumps(document, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        try:
            document = json.loads(text)
            if document.get("format") != KEYRING_FORMAT:
                raise KeyringError(f"Unknown keyring format {document.get('format')!r}.")
            return cls(
                KeySet.from_json("k", document["data_keys"]),
                KeySet.from_json("b", document["blind_index_keys"]),
            )
        except KeyringError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyringError(f"The keyring is malformed ({exc.__class__.__name__}: {exc}).") from None


def key_file() -> Path:
    return Path(settings.LINLI_KEY_FILE)


def keys_from_environment() -> bool:
    """True when the keyring comes from ``LINLI_KEYS`` (and so cannot be rewritten by Linli)."""
    return bool(os.environ.get(ENV_VAR, "").strip())


_cache_lock = threading.Lock()
_cache: tuple[tuple, Keyring] | None = None


def get_keyring() -> Keyring:
    """The keyring in force, from ``LINLI_KEYS`` or the key file (created on first use)."""
    global _cache
    if text := os.environ.get(ENV_VAR, "").strip():
        stamp: tuple = ("env", text)
    else:
        path = key_file()
        if not path.exists():
            _create_key_file(path)
        stat = path.stat()
        stamp = ("file", str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino)
    cached = _cache
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with _cache_lock:
        keyring = Keyring.from_json(text if stamp[0] == "env" else key_file().read_text())
        _cache = (stamp, keyring)
    return keyring


def _create_key_file(path: Path) -> None:
    """Write a new keyring to ``path`` unless another process got there first (atomic create-if-absent)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(Keyring.generate().to_json())
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)  # fails if the file exists: the first writer wins
    finally:
        temporary.unlink(missing_ok=True)


def write_keyring(keyring: Keyring, path: Path | None = None) -> None:
    """Replace the key file atomically (mode 0600)."""
    path = path or key_file()
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(keyring.to_json())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


@contextlib.contextmanager
def locked_key_file() -> Iterator[Path]:
    """Hold an exclusive lock so that two rotations cannot interleave their read-modify-write of the file."""
    path = key_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
