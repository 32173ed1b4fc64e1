"""Passwords (Argon2id), access tokens (short-lived HS256 JWT) and refresh tokens (opaque, hashed)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from datetime import datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cloud.core.db import utcnow

# argon2-cffi's defaults are RFC 9106's low-memory recommendation for Argon2id.
_hasher = PasswordHasher()
# Verified against when the account does not exist, so timing does not reveal which e-mails exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

ACCESS_AUDIENCE = "guardian-cloud"
_ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def make_access_token(
    secret: str, *, user_id: str, token_version: int, minutes: int, session_id: str | None = None
) -> tuple[str, datetime]:
    """An access token; ``session_id`` (claim ``sid``) names the login (refresh-token family) it belongs to,
    so a long-lived use of it (the live stream) can end when that login ends."""
    now = utcnow()
    expires = now + timedelta(minutes=minutes)
    claims: dict[str, object] = {
        "sub": user_id,
        "ver": token_version,
        "typ": "access",
        "aud": ACCESS_AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": secrets.token_urlsafe(8),
    }
    if session_id is not None:
        claims["sid"] = session_id
    return jwt.encode(claims, secret, algorithm=_ALGORITHM), expires


def read_access_token(secret: str, token: str, now: float | None = None) -> dict[str, object] | None:
    """Claims of a valid access token, or None (expired, tampered, wrong type).

    Every API request presents its token again: the signature and claims are checked once per token and
    remembered (:func:`_verified`); only the expiry, the one check that changes with time, is made again.
    """
    claims = _verified(secret, token)
    if claims is None:
        return None
    expires = claims["exp"]  # an int: PyJWT checked it
    if not isinstance(expires, int) or not (time.time() if now is None else now) < expires:
        return None
    return dict(claims)  # a copy: callers keep it (the live stream), none may change the remembered one


@functools.lru_cache(maxsize=4096)
def _verified(secret: str, token: str) -> dict[str, object] | None:
    """PyJWT's full check (~40 µs). Bounded: a flood of made-up tokens only evicts, never grows memory."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            audience=ACCESS_AUDIENCE,
            options={"require": ["sub", "exp", "iat", "aud"]},
        )
    except jwt.PyJWTError:
        return None
    return claims if claims.get("typ") == "access" else None


def new_refresh_token() -> tuple[str, str]:
    """(token for the cookie, its SHA-256 for the database)."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hashed_key(secret: str, kind: str, value: str) -> str:
    """Keyed hash for rate-limit keys, so e-mails and addresses are not stored in the clear."""
    return hmac.new(secret.encode(), f"{kind}:{value.lower()}".encode(), hashlib.sha256).hexdigest()
