"""OpenID Connect login against any issuer: discovery, authorization code + PKCE, id_token checks.

The provider's metadata and JWKS are fetched with httpx and cached; an id_token whose key is not in
the cached set triggers one JWKS refresh (key rotation). The id_token is checked with PyJWT:
signature (algorithms from settings, never ``none``/HMAC), ``iss``, ``aud`` (and ``azp``), ``exp``,
``iat`` and the ``nonce`` bound to this login. Providers that omit ``kid`` (single-key JWKS) work.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from cloud.core.config import OidcSettings
from cloud.core.errors import ApiError

_CACHE_SECONDS = 3600


class OidcError(ApiError):
    status = 401
    code = "oidc_failed"


@dataclass
class AuthRequest:
    url: str
    state: str
    nonce: str
    code_verifier: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class OidcClient:
    def __init__(self, settings: OidcSettings, http: httpx.Client | None = None) -> None:
        self.settings = settings
        self._http = http or httpx.Client(timeout=10, follow_redirects=False)
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: list[jwt.PyJWK] = []
        self._jwks_at = 0.0

    # -- discovery and keys --

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is None or time.monotonic() - self._metadata_at > _CACHE_SECONDS:
                url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
                try:
                    response = self._http.get(url)
                    response.raise_for_status()
                    metadata = response.json()
                except (httpx.HTTPError, ValueError) as exc:
                    raise OidcError(f"OIDC discovery failed: {type(exc).__name__}", status=502) from None
                if metadata.get("issuer", "").rstrip("/") != self.settings.issuer.rstrip("/"):
                    raise OidcError("OIDC discovery: issuer does not match the configured issuer", status=502)
                self._metadata, self._metadata_at = metadata, time.monotonic()
            return self._metadata

    def _keys(self, refresh: bool = False) -> list[jwt.PyJWK]:
        with self._lock:
            stale = time.monotonic() - self._jwks_at > _CACHE_SECONDS
        if refresh or stale or not self._jwks:
            try:
                response = self._http.get(self.metadata()["jwks_uri"])
                response.raise_for_status()
                keys = [jwt.PyJWK(k) for k in response.json()["keys"] if k.get("use", "sig") == "sig"]
            except (httpx.HTTPError, ValueError, KeyError, jwt.PyJWTError) as exc:
                raise OidcError(f"OIDC JWKS fetch failed: {type(exc).__name__}", status=502) from None
            with self._lock:
                self._jwks, self._jwks_at = keys, time.monotonic()
        return self._jwks

    # -- the flow --

    def authorization_request(self) -> AuthRequest:
        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        challenge = _b64(hashlib.sha256(verifier.encode()).digest())
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.client_id,
                "redirect_uri": self.settings.redirect_url,
                "scope": self.settings.scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return AuthRequest(f"{self.metadata()['authorization_endpoint']}?{query}", state, nonce, verifier)

    def exchange(self, code: str, code_verifier: str) -> str:
        """Exchange the authorization code; returns the raw id_token."""
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.settings.redirect_url,
            "code_verifier": code_verifier,
        }
        secret = self.settings.client_secret.get_secret_value()
        auth = httpx.Auth()  # none: client_secret_post sends the credentials in the form
        if self.settings.token_auth_method == "client_secret_post":
            data.update(client_id=self.settings.client_id, client_secret=secret)
        else:
            auth = httpx.BasicAuth(self.settings.client_id, secret)
        try:
            response = self._http.post(self.metadata()["token_endpoint"], data=data, auth=auth,
                                       headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise OidcError(f"OIDC token request failed: {type(exc).__name__}", status=502) from None
        if response.status_code != 200:
            raise OidcError(f"OIDC token endpoint refused the code (HTTP {response.status_code})")
        try:
            id_token = response.json()["id_token"]
        except (ValueError, KeyError):
            raise OidcError("OIDC token response has no id_token") from None
        return str(id_token)

    def validate_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise OidcError("id_token is not a JWT") from None
        alg = header.get("alg")
        if alg not in self.settings.allowed_algorithms:
            raise OidcError("id_token algorithm not allowed")
        claims = self._verify(id_token, header, alg, refresh=False)
        if claims is None:
            claims = self._verify(id_token, header, alg, refresh=True)
        if claims is None:
            raise OidcError("id_token signature does not verify")
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise OidcError("id_token nonce does not match this login")
        aud = claims["aud"]
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self.settings.client_id:
            raise OidcError("id_token azp is not this client")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise OidcError("id_token has no subject")
        return claims

    def _verify(self, id_token: str, header: dict[str, Any], alg: str, *, refresh: bool) -> dict[str, Any] | None:
        kid = header.get("kid")
        candidates = [k for k in self._keys(refresh=refresh) if kid is None or k.key_id == kid]
        for key in candidates:
            try:
                return jwt.decode(
                    id_token,
                    key.key,
                    algorithms=[alg],
                    audience=self.settings.client_id,
                    issuer=self.metadata()["issuer"],
                    leeway=60,
                    options={"require": ["iss", "aud", "exp", "iat", "sub"]},
                )
            except (jwt.InvalidSignatureError, jwt.InvalidKeyError, jwt.InvalidAlgorithmError):
                continue
            except jwt.InvalidAudienceError:
                raise OidcError("id_token audience is not this client", code="oidc_wrong_audience") from None
            except jwt.InvalidIssuerError:
                raise OidcError("id_token issuer does not match", code="oidc_wrong_issuer") from None
            except jwt.ExpiredSignatureError:
                raise OidcError("id_token expired") from None
            except jwt.PyJWTError as exc:
                raise OidcError(f"id_token invalid: {type(exc).__name__}") from None
        return None

    def close(self) -> None:
        self._http.close()


def claims_summary(claims: dict[str, Any]) -> str:
    """For debugging without personal data: which claim names were present."""
    return json.dumps(sorted(claims))
