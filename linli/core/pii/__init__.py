"""Personal-data protection building blocks: keys, encryption, blind indexes, model fields and masking.

See ``docs/security-keys.md`` for operating the keys, and each module's docstring for its part:

- ``keys``: the keyring outside the database (``LINLI_KEYS`` or ``settings.LINLI_KEY_FILE``);
- ``crypto``: ``encrypt``/``decrypt`` (AES-256-GCM or SM4-GCM) and ``blind_index`` (HMAC-SHA256 or HMAC-SM3);
- ``fields``: ``EncryptedCharField``, ``EncryptedTextField``, ``BlindIndexField`` and the ``__blind`` lookup;
- ``masking``: ``mask(kind, value, view)`` and ``MaskedValue``.
"""

from .crypto import DecryptionError, blind_index, decrypt, encrypt
from .fields import BlindIndexField, EncryptedCharField, EncryptedTextField
from .keys import Keyring, get_keyring
from .masking import PUBLIC, STAFF, MaskedValue, mask

__all__ = [
    "PUBLIC",
    "STAFF",
    "BlindIndexField",
    "DecryptionError",
    "EncryptedCharField",
    "EncryptedTextField",
    "Keyring",
    "MaskedValue",
    "blind_index",
    "decrypt",
    "encrypt",
    "get_keyring",
    "mask",
]
