"""Manifest signatures: HMAC-SHA256 over a manifest's canonical JSON with the ops signing key.

The key is a shared secret of the snapshot job and its consumers (ANONYMISER_SIGNING_KEY or a
key file). A signature says the manifest, and through its sha256 list every file, came from a
holder of the key; the manifest records only a fingerprint of the key, never the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from pathlib import Path

from anonymiser.config import read_secret
from anonymiser.errors import IntegrityError
from anonymiser.manifest import Manifest

__all__ = [
    "ALGORITHM",
    "ENV_SIGNING_KEY",
    "check_signature",
    "key_fingerprint",
    "load_signing_key",
    "sign",
]

log = logging.getLogger(__name__)

ENV_SIGNING_KEY = "ANONYMISER_SIGNING_KEY"
ALGORITHM = "hmac-sha256"


def load_signing_key(key_file: Path | None = None) -> bytes | None:
    """The signing key from `key_file`, else from ANONYMISER_SIGNING_KEY; None if neither."""
    return read_secret(key_file, ENV_SIGNING_KEY, "signing key")


def key_fingerprint(key: bytes) -> str:
    """A non-secret name for a key, so a mismatch can say which key signed."""
    return hashlib.sha256(b"anonymiser-signing-key:" + key).hexdigest()[:16]


def _payload(manifest: Manifest) -> bytes:
    content = manifest.to_dict()
    content.pop("signature", None)
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _mac(manifest: Manifest, key: bytes) -> str:
    return hmac.new(key, _payload(manifest), hashlib.sha256).hexdigest()


def sign(manifest: Manifest, key: bytes) -> None:
    """Set manifest.signature; call it last, once nothing else in the manifest changes."""
    manifest.signature = {
        "algorithm": ALGORITHM,
        "key_fingerprint": key_fingerprint(key),
        "value": _mac(manifest, key),
    }


def check_signature(manifest: Manifest, key: bytes | None, *, allow_unsigned: bool) -> str:
    """'signed' if the signature holds; otherwise IntegrityError, or a logged warning and
    a description of the problem when allow_unsigned."""
    name = f"snapshot {manifest.dataset}/{manifest.version}"
    signature = manifest.signature or {}
    if not signature:
        problem = f"{name} is not signed"
    elif signature.get("algorithm") != ALGORITHM:
        problem = f"{name} is signed with unknown algorithm {signature.get('algorithm')!r}"
    elif key is None:
        problem = (
            f"{name} is signed but no signing key was given to check it "
            f"(set {ENV_SIGNING_KEY} or pass --signing-key-file)"
        )
    elif not hmac.compare_digest(str(signature.get("value", "")), _mac(manifest, key)):
        fingerprint = signature.get("key_fingerprint")
        if fingerprint != key_fingerprint(key):
            problem = f"{name} was signed with another key (fingerprint {fingerprint})"
        else:
            problem = f"{name} has a manifest that does not match its signature (altered?)"
    else:
        return "signed"
    if not allow_unsigned:
        raise IntegrityError(
            f"{problem}; refusing it: only trust snapshots signed by the snapshot job, or pass "
            "--allow-unsigned to accept it anyway"
        )
    log.warning("%s; accepted because --allow-unsigned was given", problem)
    return problem
