"""Who may do what between cloud, relay and browser: Ed25519 keys, clip/bootstrap tokens, relay request
signatures. Free of network, database and web framework code, so the relay and the cloud both use it.

- :mod:`.keys`: key text (base64url of the raw 32 bytes) and key ids.
- :mod:`.tokens`: clip, device and bootstrap tokens as JWTs (EdDSA, PyJWT); clip and bootstrap verifiers
  accept ``gt1`` too.
- :mod:`.requests`: relay → cloud request signatures per RFC 9421; the verifier accepts the legacy too.
- :mod:`.legacy`: the ``gt1`` tokens and ``X-Guardian-*`` signatures of the previous release.
- :mod:`.grants`, :mod:`.errors`: what a verified token grants, and why one was refused.

The usual entry points are re-exported here::

    from guardian.contracts import auth
    keys = auth.load_public_keys(["<cloud public key text>"])
    grant = auth.verify_clip_token(token, keys, tenant_id=MY_TENANT, scope="clip")

Upgrade order (docs/tokens.md): this release verifies both formats everywhere, while the cloud mints
``gt1`` (``[tokens] format``) and relays sign with ``X-Guardian-*`` (``[cloud] request_signature``) by
default; the next release flips both defaults; the one after removes :mod:`.legacy`.
"""

from guardian.contracts.auth.errors import TokenError, TokenExpired, TokenInvalid, TokenMismatch
from guardian.contracts.auth.grants import (
    BOOTSTRAP_TOKEN_MAX_TTL,
    CLIP_SCOPES,
    CLIP_TOKEN_MAX_TTL,
    DEVICE_SCOPES,
    DEVICE_TOKEN_MAX_TTL,
    REQUEST_WINDOW,
    BootstrapGrant,
    ClipGrant,
    DeviceGrant,
    SignedRequest,
)
from guardian.contracts.auth.keys import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
    PublicKeys,
    generate_private_key,
    key_id,
    load_public_keys,
    private_key_from_text,
    private_key_to_text,
    public_key_from_text,
    public_key_to_text,
)
from guardian.contracts.auth.requests import (
    SignatureScheme,
    relay_id_of,
    sign_relay_request,
    verify_relay_request,
)
from guardian.contracts.auth.tokens import (
    TokenFormat,
    mint_bootstrap_token,
    mint_clip_token,
    mint_device_token,
    verify_bootstrap_token,
    verify_clip_token,
    verify_device_token,
)

__all__ = [
    "BOOTSTRAP_TOKEN_MAX_TTL",
    "CLIP_SCOPES",
    "CLIP_TOKEN_MAX_TTL",
    "DEVICE_SCOPES",
    "DEVICE_TOKEN_MAX_TTL",
    "REQUEST_WINDOW",
    "BootstrapGrant",
    "ClipGrant",
    "DeviceGrant",
    "Ed25519PrivateKey",
    "Ed25519PublicKey",
    "PublicKeys",
    "SignatureScheme",
    "SignedRequest",
    "TokenError",
    "TokenExpired",
    "TokenFormat",
    "TokenInvalid",
    "TokenMismatch",
    "generate_private_key",
    "key_id",
    "load_public_keys",
    "mint_bootstrap_token",
    "mint_clip_token",
    "mint_device_token",
    "private_key_from_text",
    "private_key_to_text",
    "public_key_from_text",
    "public_key_to_text",
    "relay_id_of",
    "sign_relay_request",
    "verify_bootstrap_token",
    "verify_clip_token",
    "verify_device_token",
    "verify_relay_request",
]
