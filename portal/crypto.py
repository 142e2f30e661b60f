"""Field encryption for Aadhaar numbers (Fernet: AES-128-CBC + HMAC-SHA256, from ``cryptography``).

The key comes from config ``FIELD_ENCRYPTION_KEY`` (a urlsafe-base64 32-byte Fernet key); development and test
configs carry their own fixed, non-secret keys; production refuses to start without one.
"""
from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app


def _fernet() -> Fernet:
    key = current_app.config.get("FIELD_ENCRYPTION_KEY")
    if not key:
        raise RuntimeError("FIELD_ENCRYPTION_KEY is not set")
    return Fernet(key.encode() if isinstance(key, str) else key)


def encrypt(text: str) -> bytes:
    """Encrypt ``text`` (e.g. a 12-digit Aadhaar number) for storage."""
    return _fernet().encrypt(text.encode())


def decrypt(token: bytes) -> str:
    """Decrypt a value from ``encrypt``; raises ValueError when the key does not match."""
    try:
        return _fernet().decrypt(bytes(token)).decode()
    except InvalidToken:
        raise ValueError("cannot decrypt: wrong FIELD_ENCRYPTION_KEY") from None


def mask_aadhaar(number: str | None) -> str | None:
    """'123412341234' -> 'XXXX XXXX 1234' (the only form shown after entry)."""
    if not number:
        return None
    digits = "".join(ch for ch in number if ch.isdigit())
    return f"XXXX XXXX {digits[-4:]}"
