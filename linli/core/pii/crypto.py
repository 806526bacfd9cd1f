"""Authenticated encryption of personal data (AES-256-GCM, or SM4-GCM for 国密) and blind indexes.

A ciphertext is a self-describing string, ``v1:<algorithm>:<key id>:<base64(nonce | ciphertext | tag)>``,
so that a key rotation can tell what to re-encrypt and an old key still decrypts what it wrote. The nonce is
96 random bits. The associated data binds a ciphertext to where it belongs (by default ``<table>.<column>``)
together with its own header, so a value copied into another column, or relabelled with another key id,
fails to decrypt.

Blind indexes are keyed HMACs (HMAC-SHA256, or HMAC-SM3) of a normalised value, for equality search on data
that is stored only encrypted.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac as std_hmac
import os
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .keys import Keyring, get_keyring

FORMAT_VERSION = "v1"
NONCE_BYTES = 12
TAG_BYTES = 16
AES_256_GCM = "aes-256-gcm"
SM4_GCM = "sm4-gcm"
CIPHERS = (AES_256_GCM, SM4_GCM)
HMAC_SHA256 = "hmac-sha256"
HMAC_SM3 = "hmac-sm3"
BLIND_INDEX_ALGORITHMS = (HMAC_SHA256, HMAC_SM3)
DEFAULT_INDEX_BITS = 128


class DecryptionError(ValueError):
    """A ciphertext is malformed, was tampered with, belongs elsewhere, or its key is unknown."""


@dataclass(frozen=True)
class Token:
    """The parts of a stored ciphertext."""

    version: str
    algorithm: str
    key_id: str
    payload: bytes

    @property
    def header(self) -> str:
        return f"{self.version}:{self.algorithm}:{self.key_id}"


def token_prefix(algorithm: str, key_id: str) -> str:
    """How every ciphertext written with this algorithm and key begins (used to find stale rows)."""
    return f"{FORMAT_VERSION}:{algorithm}:{key_id}:"


def parse_token(token: str) -> Token:
    """Split a stored ciphertext into its parts, or raise DecryptionError."""
    try:
        version, algorithm, key_id, encoded = token.split(":", 3)
        payload = base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error, AttributeError):
        raise DecryptionError("not a Linli ciphertext") from None
    if version != FORMAT_VERSION or algorithm not in CIPHERS or len(payload) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError("not a Linli ciphertext")
    return Token(version, algorithm, key_id, payload)


def configured_cipher() -> str:
    algorithm = getattr(settings, "LINLI_PII_CIPHER", AES_256_GCM)
    if algorithm not in CIPHERS:
        raise ImproperlyConfigured(
            f"LINLI_PII_CIPHER must be one of {', '.join(CIPHERS)}, not {algorithm!r}."
        )
    return algorithm


def configured_blind_index() -> str:
    algorithm = getattr(settings, "LINLI_BLIND_INDEX", HMAC_SHA256)
    if algorithm not in BLIND_INDEX_ALGORITHMS:
        raise ImproperlyConfigured(
            f"LINLI_BLIND_INDEX must be one of {', '.join(BLIND_INDEX_ALGORITHMS)}, not {algorithm!r}."
        )
    return algorithm


@functools.lru_cache(maxsize=64)
def _cipher_key(master: bytes, algorithm: str) -> bytes:
    """A key for one algorithm derived from a 32-byte master key, so no key bytes serve two ciphers."""
    if algorithm == SM4_GCM:
        return HKDF(hashes.SM3(), 16, salt=None, info=b"linli pii sm4-gcm").derive(master)
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"linli pii aes-256-gcm").derive(master)


def _block_cipher(algorithm: str, key: bytes) -> algorithms.BlockCipherAlgorithm:
    return algorithms.SM4(key) if algorithm == SM4_GCM else algorithms.AES(key)


def gcm_encrypt(algorithm: str, key: bytes, nonce: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """Raw GCM: ciphertext followed by the 16-byte tag."""
    encryptor = Cipher(_block_cipher(algorithm, key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(associated_data)
    return encryptor.update(plaintext) + encryptor.finalize() + encryptor.tag


def gcm_decrypt(algorithm: str, key: bytes, nonce: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    """Raw GCM: verify the tag at the end of ``sealed`` and return the plaintext, or raise InvalidTag."""
    ciphertext, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
    decryptor = Cipher(_block_cipher(algorithm, key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(associated_data)
    return decryptor.update(ciphertext) + decryptor.finalize()


def _bound(header: str, associated_data: str) -> bytes:
    return f"{header}|{associated_data}".encode()


def encrypt(
    plaintext: str, *, associated_data: str, keyring: Keyring | None = None, algorithm: str | None = None
) -> str:
    """Encrypt ``plaintext`` with the current key and configured cipher into a ciphertext string."""
    keyring = keyring or get_keyring()
    algorithm = algorithm or configured_cipher()
    self_test(algorithm)
    key_id = keyring.data.current
    header = f"{FORMAT_VERSION}:{algorithm}:{key_id}"
    nonce = os.urandom(NONCE_BYTES)
    sealed = gcm_encrypt(
        algorithm,
        _cipher_key(keyring.data.current_key, algorithm),
        nonce,
        plaintext.encode(),
        _bound(header, associated_data),
    )
    return f"{header}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(token: str, *, associated_data: str, keyring: Keyring | None = None) -> str:
    """Decrypt a ciphertext string written by ``encrypt`` for the same associated data."""
    parsed = parse_token(token)
    keyring = keyring or get_keyring()
    try:
        master = keyring.data.get(parsed.key_id)
    except KeyError as exc:
        raise DecryptionError(str(exc)) from None
    self_test(parsed.algorithm)
    nonce, sealed = parsed.payload[:NONCE_BYTES], parsed.payload[NONCE_BYTES:]
    try:
        plaintext = gcm_decrypt(
            parsed.algorithm,
            _cipher_key(master, parsed.algorithm),
            nonce,
            sealed,
            _bound(parsed.header, associated_data),
        )
    except InvalidTag:
        raise DecryptionError("the ciphertext was altered or belongs to another field") from None
    return plaintext.decode()


def needs_reencryption(token: str, keyring: Keyring | None = None, algorithm: str | None = None) -> bool:
    """True when a ciphertext was not written with the current key and configured cipher."""
    keyring = keyring or get_keyring()
    return not token.startswith(token_prefix(algorithm or configured_cipher(), keyring.data.current))


def hmac_digest(algorithm: str, key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 or HMAC-SM3 of ``message``."""
    if algorithm == HMAC_SHA256:
        return std_hmac.digest(key, message, "sha256")
    self_test(SM4_GCM)  # the same OpenSSL build provides SM3; the self-test covers it
    mac = crypto_hmac.HMAC(key, hashes.SM3())
    mac.update(message)
    return mac.finalize()


def blind_indexes(
    value: str,
    *,
    context: str,
    normalise: Callable[[str], str] | None = None,
    bits: int = DEFAULT_INDEX_BITS,
    keyring: Keyring | None = None,
    algorithm: str | None = None,
) -> list[str]:
    """The blind index of ``value`` under every blind-index key, the current key's first.

    Writes store the first; a search matches any, so lookups keep working while ``rotate_keys --blind-index``
    recomputes the stored indexes under a new key.
    """
    keyring = keyring or get_keyring()
    algorithm = algorithm or configured_blind_index()
    normalised = normalise(value) if normalise else value
    message = context.encode() + b"\x00" + normalised.encode()
    key_ids = [keyring.blind.current] + [k for k in keyring.blind.keys if k != keyring.blind.current]
    return [hmac_digest(algorithm, keyring.blind.get(k), message)[: bits // 8].hex() for k in key_ids]


def blind_index(value: str, **kwargs) -> str:
    """The blind index of ``value`` under the current blind-index key (see ``blind_indexes``)."""
    return blind_indexes(value, **kwargs)[0]


# Published vectors: GB/T 32905-2016 (SM3), GB/T 32907-2016 (SM4) and RFC 8998 Appendix A.1 (SM4-GCM).
SM3_ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
SM4_GCM_VECTOR = {
    "key": "0123456789abcdeffedcba9876543210",
    "nonce": "00001234567800000000abcd",
    "aad": "feedfacedeadbeeffeedfacedeadbeefabaddad2",
    "plaintext": "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd"
    "eeeeeeeeeeeeeeeeffffffffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa",
    "ciphertext": "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735"
    "d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d",
    "tag": "83de3541e4c2b58177e065a9bf7b62ec",
}


@functools.cache
def self_test(algorithm: str) -> None:
    """Check the 国密 primitives against published vectors once per process before first use.

    Whether SM3 and SM4 exist, and work, depends on the OpenSSL build inside the ``cryptography`` wheel.
    """
    if algorithm != SM4_GCM:
        return
    try:
        digest = hashes.Hash(hashes.SM3())
        digest.update(b"abc")
        sm3_ok = digest.finalize().hex() == SM3_ABC
        vector = {name: bytes.fromhex(value) for name, value in SM4_GCM_VECTOR.items()}
        sealed = gcm_encrypt(SM4_GCM, vector["key"], vector["nonce"], vector["plaintext"], vector["aad"])
        sm4_ok = sealed == vector["ciphertext"] + vector["tag"]
    except Exception as exc:  # an OpenSSL without SM3/SM4 raises UnsupportedAlgorithm
        raise ImproperlyConfigured(f"SM3/SM4 are not available from this cryptography build: {exc}") from exc
    if not (sm3_ok and sm4_ok):
        raise ImproperlyConfigured("SM3/SM4 self-test failed: the published test vectors do not match.")
