"""The operator's Ed25519 key for checkpoints (``FLOSSPAY_LEDGER_SIGNING_KEY``), via ``cryptography``.

An auditor who holds the public key can prove a signed checkpoint came from the operator, so a
head the operator published cannot later be denied or quietly replaced.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from flosspay.adapters.config import ConfigError


class SigningKeyError(ConfigError):
    """The key file is missing, unreadable or not an Ed25519 private key (message says which)."""


class Ed25519Signer:
    """Signs checkpoint messages; ``public_key`` is the raw 32 bytes auditors verify with."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"Ed25519Signer(public_key={self.public_key.hex()})"

    @classmethod
    def from_file(cls, path: Path) -> Ed25519Signer:
        """A PEM (PKCS#8) Ed25519 private key, as ``flosspay ledger keygen`` or OpenSSL writes it."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SigningKeyError(f"cannot read the ledger signing key {path}: {exc.strerror}") from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise SigningKeyError(f"{path} is not an unencrypted PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
        return cls(key)


def generate_key_file(path: Path) -> bytes:
    """Write a new Ed25519 private key (PEM, mode 0600) to ``path``; returns the raw public key."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SigningKeyError(f"{path} exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise SigningKeyError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return Ed25519Signer(key).public_key


def load_signer(path: Path | None) -> Ed25519Signer | None:
    return Ed25519Signer.from_file(path) if path is not None else None


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
