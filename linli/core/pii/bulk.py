"""Sealing many values at once, exactly as the model fields do one at a time (bulk loaders, ``COPY``).

``FieldSealer`` produces what ``EncryptedCharField.get_prep_value`` and ``BlindIndexField.compute`` produce —
the same ciphertext format, key, cipher and associated data, the same blind index under the current key — with
the keyring looked up, the cipher self-tested and the AEAD built once instead of per value. Used by the demo
generator and the Excel import's ``COPY`` path; their tests check the output against the ORM.
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import crypto
from .keys import get_keyring


class FieldSealer:
    """Encrypts and blind-indexes values as ``EncryptedCharField`` and ``BlindIndexField`` do, in bulk.

    The per-value work of ``crypto.encrypt`` (keyring look-up, self-test, building a cipher) is done once
    here; the ciphertext is the same format under the same key and associated data, so the ORM decrypts it.
    """

    def __init__(self):
        keyring = get_keyring()
        self.algorithm = crypto.configured_cipher()
        crypto.self_test(self.algorithm)
        self.header = f"{crypto.FORMAT_VERSION}:{self.algorithm}:{keyring.data.current}"
        self.key = crypto._cipher_key(keyring.data.current_key, self.algorithm)
        self.aead = AESGCM(self.key) if self.algorithm == crypto.AES_256_GCM else None
        self.index_algorithm = crypto.configured_blind_index()
        self.index_key = keyring.blind.get(keyring.blind.current)
        # Every blind-index key, the current one first: what ``BlindIndexField.indexes_for`` searches with.
        self.index_keys = [self.index_key] + [
            keyring.blind.get(k) for k in keyring.blind.keys if k != keyring.blind.current
        ]
        self._bound: dict[str, bytes] = {}

    def encrypt(self, plaintext: str, associated_data: str) -> str:
        if not plaintext:
            return plaintext
        bound = self._bound.get(associated_data)
        if bound is None:
            bound = self._bound[associated_data] = f"{self.header}|{associated_data}".encode()
        nonce = os.urandom(crypto.NONCE_BYTES)
        if self.aead is not None:
            sealed = self.aead.encrypt(nonce, plaintext.encode(), bound)
        else:
            sealed = crypto.gcm_encrypt(self.algorithm, self.key, nonce, plaintext.encode(), bound)
        return f"{self.header}:{base64.b64encode(nonce + sealed).decode()}"

    def blind_index(self, value: str, index_field) -> str | None:
        """What ``index_field.compute(value)`` returns, with the key looked up once."""
        if not value:
            return None
        normalised = index_field.normalise(value) if index_field.normalise else value
        message = index_field.context.encode() + b"\x00" + normalised.encode()
        return crypto.hmac_digest(self.index_algorithm, self.index_key, message)[
            : index_field.bits // 8
        ].hex()

    def blind_indexes(self, value: str, index_field) -> list[str]:
        """What ``index_field.indexes_for(value)`` returns (one index per blind-index key, current first)."""
        normalised = index_field.normalise(value) if index_field.normalise else value
        message = index_field.context.encode() + b"\x00" + normalised.encode()
        size = index_field.bits // 8
        digest = crypto.hmac_digest
        return [digest(self.index_algorithm, key, message)[:size].hex() for key in self.index_keys]
