"""The cloud's public signing keys, for relays to verify clip and bootstrap tokens offline."""

from __future__ import annotations

from fastapi import APIRouter, Response

from cloud.api.deps import CloudDep
from cloud.api.schemas import KeysPublic, PublicKeyPublic
from guardian.contracts import auth

router = APIRouter(prefix="/api/v1", tags=["keys"])


@router.get("/keys", response_model=KeysPublic)
def public_keys(cloud: CloudDep, response: Response) -> KeysPublic:
    """Current key first, then keys still trusted during a rotation. ``jwk`` is the RFC 8037 form."""
    response.headers["Cache-Control"] = "public, max-age=300"
    keys = []
    for text in cloud.public_keys:
        kid = auth.key_id(auth.public_key_from_text(text))
        keys.append(PublicKeyPublic(kid=kid, public_key=text,
                                    jwk={"kty": "OKP", "crv": "Ed25519", "x": text, "kid": kid, "use": "sig"}))
    return KeysPublic(keys=keys)
