"""The server key, and the encryption of secrets at rest with it: access-key secrets and
services' secrets.

SigV4 verification needs each secret itself, so secrets cannot be stored hashed; they
are stored encrypted (Fernet: AES-128-CBC with HMAC-SHA256) under a key that lives in
the data directory, readable by its owner only, and never in the database.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from shipyard.errors import ShipyardError

__all__ = ["Vault"]


class Vault:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def open(cls, key_file: Path) -> Vault:
        """The vault whose key is in ``key_file``, made (mode 0600) on first use."""
        try:
            return cls(key_file.read_bytes().strip())
        except FileNotFoundError:
            pass
        key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Fernet.generate_key()
        try:
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            # Another process of this installation made it first: use theirs.
            return cls(key_file.read_bytes().strip())
        with os.fdopen(descriptor, "wb") as sink:
            sink.write(key)
        return cls(key)

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def unseal(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken as exc:
            raise ShipyardError(
                "a secret cannot be decrypted: the server key in the data directory is "
                "not the one it was sealed with"
            ) from exc
