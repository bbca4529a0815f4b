"""Checks on incoming webhooks: URL tokens and AfterShip's HMAC signature, in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress


def token_matches(given: str | None, expected: str) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def aftership_signature(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(secret, raw body)), as AfterShip puts in `aftership-hmac-sha256`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_check(body: bytes, header: str | None, secrets: list[str]) -> str:
    """ "valid" (current secret), "valid_previous" (an older one, mid-rotation), "missing" or "invalid"."""
    if not header:
        return "missing"
    given = header.strip().encode()
    result = "invalid"
    # Compare against every secret, so timing does not reveal which one matched.
    for index, secret in enumerate(secrets):
        if hmac.compare_digest(aftership_signature(body, secret).encode(), given) and result == "invalid":
            result = "valid" if index == 0 else "valid_previous"
    return result


def client_allowed(remote: str | None, allowlist: list[str]) -> bool:
    """True when no allow-list is set, or the caller's address is in one of its networks."""
    if not allowlist:
        return True
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in allowlist)
