"""Secrets at rest: API client secrets sealed with AES-256-GCM under keys derived from the server key.

The server key (``FLOSSPAY_SECRET_KEY`` or the generated ``secret.key``) is never used directly:
HKDF-SHA256 derives the encryption key from it, and a key id (a hash of the derived key) is stored
beside every sealed value, so after ``flosspay secret-key rotate`` each row names the key that opens
it. The row's client id is bound in as associated data: a sealed secret copied onto another row
does not open. A database dump alone therefore reveals no secret.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"flosspay api client secrets v1"
_NONCE_BYTES = 12


class SecretBoxError(Exception):
    """A sealed value cannot be opened: its key is not configured, or it was tampered with."""


def _derive(root: bytes) -> tuple[str, AESGCM]:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(root)
    key_id = hashlib.sha256(b"flosspay key id\n" + key).hexdigest()[:16]
    return key_id, AESGCM(key)


class SecretBox:
    """Seals under the current key; opens with the current or any previous key (by key id).

    ``reload`` (optional) returns the roots afresh, e.g. from the key files: a value sealed under a
    key this process has not seen (another process rotated) is retried once after reloading.
    """

    def __init__(
        self,
        current: bytes,
        previous: Sequence[bytes] = (),
        reload: Callable[[], tuple[bytes, Sequence[bytes]]] | None = None,
    ) -> None:
        self._reload = reload
        self._load(current, previous)

    def _load(self, current: bytes, previous: Sequence[bytes]) -> None:
        if not current:
            raise ValueError("the secret key is empty")
        self.key_id, self._current = _derive(current)
        self._keys = {self.key_id: self._current}
        for root in previous:
            if root:
                key_id, aead = _derive(root)
                self._keys.setdefault(key_id, aead)

    def seal(self, plaintext: str, context: str) -> tuple[str, str]:
        """``(key_id, token)``: ``token`` is URL-safe Base64 of nonce + ciphertext + tag."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._current.encrypt(nonce, plaintext.encode(), context.encode())
        return self.key_id, base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, key_id: str, token: str, context: str) -> str:
        aead = self._keys.get(key_id)
        if aead is None and self._reload is not None:
            self._load(*self._reload())
            aead = self._keys.get(key_id)
        if aead is None:
            raise SecretBoxError(f"no configured secret key has id {key_id} (FLOSSPAY_SECRET_KEY_PREVIOUS?)")
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
            return aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode()).decode()
        except Exception:
            raise SecretBoxError(f"a value sealed under key {key_id} does not open (tampered or misplaced)") from None

    def is_current(self, key_id: str) -> bool:
        return key_id == self.key_id
