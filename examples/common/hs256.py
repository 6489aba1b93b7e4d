"""HS256 JSON Web Tokens with hmac and hashlib: all an app needs to grant a browser a stream."""

import base64
import hashlib
import hmac
import json


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode(secret, claims):
    """A compact JWS of `claims` signed with HMAC-SHA256 under `secret` (bytes)."""
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = ".".join(_b64url(json.dumps(part, separators=(",", ":")).encode("utf-8"))
                             for part in (header, claims))
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + _b64url(signature)
