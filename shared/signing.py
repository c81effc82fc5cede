"""Short-lived signed URLs for blobs (audio for the browser's <audio> element, which cannot
send headers): `?exp=<unix time>&sig=<hmac>` over the key and expiry. No bearer token ever
travels in a URL."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote

BLOB_URL_TTL_S = 15 * 60
# Expiries are rounded up to this step, so that a page polling the task gets the same URL for a
# while: a new URL each time would make the browser drop a half-loaded <audio> or <track>.
BLOB_URL_STEP_S = 5 * 60


def blob_query(signing_key: bytes, key: str, ttl_s: int = BLOB_URL_TTL_S) -> str:
    step = min(BLOB_URL_STEP_S, max(ttl_s // 3, 1))
    expires = -(-(int(time.time()) + ttl_s) // step) * step  # ttl_s to ttl_s + step away
    return f"exp={expires}&sig={_sig(signing_key, key, expires)}"


def blob_path(signing_key: bytes, key: str, ttl_s: int = BLOB_URL_TTL_S) -> str:
    return f"/blobs/{quote(key, safe='/')}?{blob_query(signing_key, key, ttl_s)}"


def verify_blob(signing_key: bytes, key: str, exp: str, sig: str) -> bool:
    try:
        expires = int(exp)
    except ValueError:
        return False
    if expires < time.time():
        return False
    return hmac.compare_digest(sig, _sig(signing_key, key, expires))


def _sig(signing_key: bytes, key: str, expires: int) -> str:
    return hmac.new(signing_key, f"blob|{key}|{expires}".encode(), hashlib.sha256).hexdigest()
