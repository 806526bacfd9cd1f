"""`linli ingest mosquitto-config`: Mosquitto 2 configuration, password file and ACL for broker mode.

Devices log in with username = password = access token. The ACL's `pattern` lines use `%u` (the username), so
a device can publish and subscribe only under `v1/devices/<its token>/…` and `v1/gateway/<its token>/…`;
anything else is refused by Mosquitto itself (2.0.11 closes the connection; MQTT 5 gets PUBACK 0x87). The
ingest workers log in as their own user, allowed everything under `v1/`. Password hashes are Mosquitto 2's
PBKDF2-SHA512 (`$7$`, 101 iterations, 12-byte salt), the same as `mosquitto_passwd` writes.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

ITERATIONS = 101
WORKER_USER = "linli-ingest"


def password_hash(password: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
    return f"$7${ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(line_hash: str, password: str) -> bool:
    _, kind, iterations, salt, digest = line_hash.split("$")
    computed = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations))
    return kind == "7" and secrets.compare_digest(base64.b64encode(computed).decode(), digest)


def _safe_token(token: str) -> bool:
    # a token becomes a topic level and a password-file username: no separators, wildcards or control chars
    return bool(token) and not any(c in token for c in ":/+#$\n\r\x00 ")


def write_config(
    out: Path,
    tokens: list[str],
    *,
    port: int = 1883,
    host: str = "127.0.0.1",
    worker_password: str | None = None,
    persistence: bool = True,
    user: str | None = None,
) -> dict:
    """Write mosquitto.conf, passwd and acl into `out`; return what a worker needs to connect."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    secret_file = out / "ingest.secret"
    if worker_password is None:
        worker_password = (
            secret_file.read_text().strip() if secret_file.exists() else secrets.token_urlsafe(24)
        )
    secret_file.write_text(worker_password + "\n")
    secret_file.chmod(0o600)
    skipped = [t for t in tokens if not _safe_token(t)]
    lines = [f"{WORKER_USER}:{password_hash(worker_password)}"]
    lines += [f"{token}:{password_hash(token)}" for token in tokens if _safe_token(token)]
    passwd = out / "passwd"
    passwd.write_text("\n".join(lines) + "\n")
    passwd.chmod(0o600)
    (out / "acl").write_text(
        "# Linli broker mode: each device only under its own token (the username, %u).\n"
        f"user {WORKER_USER}\n"
        "topic readwrite v1/#\n"
        "\n"
        "pattern readwrite v1/devices/%u/#\n"
        "pattern readwrite v1/gateway/%u/#\n"
    )
    (out / "data").mkdir(exist_ok=True)
    conf = [
        "# Written by `linli ingest mosquitto-config`.",
        "# Reload after adding devices: kill -HUP <mosquitto pid>",
        "per_listener_settings false",
        # Mosquitto started as root switches to this user, who must be able to read passwd and acl
        f"user {user}" if user else "# user mosquitto",
        f"listener {port} {host}",
        "allow_anonymous false",
        f"password_file {out / 'passwd'}",
        f"acl_file {out / 'acl'}",
        f"persistence {'true' if persistence else 'false'}",
        f"persistence_location {out / 'data'}/",
        "autosave_interval 30",
        "# QoS 1 end to end: queue (never drop) for ingest workers that are away, and let the workers' own",
        "# receive maximum decide how many messages are in flight to them.",
        "max_queued_messages 0",
        "max_queued_bytes 0",
        "max_inflight_messages 0",
        "max_keepalive 600",
        "set_tcp_nodelay true",
    ]
    (out / "mosquitto.conf").write_text("\n".join(conf) + "\n")
    return {
        "conf": str(out / "mosquitto.conf"),
        "user": WORKER_USER,
        "password": worker_password,
        "url": f"mqtt://{WORKER_USER}:{worker_password}@{host}:{port}",
        "devices": len(tokens) - len(skipped),
        "skipped": skipped,
    }
