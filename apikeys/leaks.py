"""Leak reports (docs/api.md, "Leak reports"): GitHub's secret scanning partner protocol. The
public keys that sign the reports, read from the file that API_LEAK_REPORT_KEYS_FILE names
(docs/operations.md, "Leak reports: GitHub's keys"), and the check of a report's signature.
Acting on a report is `apikeys.services.apikeys_revoke_leaked`.

The file is read while serving, so that the operator's cron job can replace it without a
restart; what was read is kept as long as the file's identity and modification time stay the
same, so a request costs one stat() of it.
"""

import base64
import binascii
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

KEY_IDENTIFIER_HEADER = "Github-Public-Key-Identifier"
SIGNATURE_HEADER = "Github-Public-Key-Signature"
# GitHub signs with ECDSA on P-256 over SHA-256.
SIGNATURE_CURVE = ec.SECP256R1
SIGNATURE_ALGORITHM = ec.ECDSA(hashes.SHA256())

PublicKeys = dict[str, ec.EllipticCurvePublicKey]


class KeysFileUnusable(Exception):  # noqa: N818 (a state of the file, like DoesNotExist)
    """The keys file is missing, cannot be read or is not GitHub's format: its text says why."""


def parse_public_keys(data: bytes) -> PublicKeys:
    """GitHub's `{"public_keys": [{"key_identifier", "key" (PEM), "is_current"}, ...]}` as
    each P-256 key by its identifier, current or not (a report signed with a key GitHub has
    just retired still verifies). KeysFileUnusable for anything else, an empty list included:
    a file that verifies nothing is a fetch that went wrong."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise KeysFileUnusable(f"not JSON: {exc}") from None
    entries = document.get("public_keys") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise KeysFileUnusable('no "public_keys" array with keys in it')
    keys: PublicKeys = {}
    for index, entry in enumerate(entries):
        keys[_identifier(entry, index)] = _public_key(entry, index)
    return keys


def _identifier(entry: Any, index: int) -> str:
    identifier = entry.get("key_identifier") if isinstance(entry, dict) else None
    if not isinstance(identifier, str) or not identifier:
        raise KeysFileUnusable(f'public_keys[{index}] has no "key_identifier" string')
    return identifier


def _public_key(entry: dict[str, Any], index: int) -> ec.EllipticCurvePublicKey:
    pem = entry.get("key")
    if not isinstance(pem, str):
        raise KeysFileUnusable(f'public_keys[{index}] has no "key" string')
    try:
        key = load_pem_public_key(pem.encode())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeysFileUnusable(f"public_keys[{index}] is no PEM public key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, SIGNATURE_CURVE):
        raise KeysFileUnusable(f"public_keys[{index}] is not an ECDSA P-256 key")
    return key


@dataclass(frozen=True)
class _ReadKeys:
    stamp: tuple[str, int, int, int, int]  # path, device, inode, mtime (ns), size
    keys: PublicKeys


_last_read: _ReadKeys | None = None


def public_keys(path: str) -> PublicKeys:
    """The keys of the file at `path`, read again whenever it was replaced or changed (the
    cron job's `mv` gives it a new inode); KeysFileUnusable when it cannot be used. A file
    that cannot be used is never kept: every request tries it again until it is fixed."""
    global _last_read
    try:
        status = os.stat(path)
        stamp = (path, status.st_dev, status.st_ino, status.st_mtime_ns, status.st_size)
        last = _last_read
        if last is not None and last.stamp == stamp:
            return last.keys
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise KeysFileUnusable(f"cannot be read: {exc.strerror or exc}") from None
    keys = parse_public_keys(data)
    # Replaced between the stat and the read: kept under the old stamp, which the next
    # request's stat no longer matches, so the new file is read again then.
    _last_read = _ReadKeys(stamp=stamp, keys=keys)
    return keys


def signature_verifies(*, body: bytes, identifier: str, signature: str, keys: PublicKeys) -> bool:
    """Whether `signature` (base64 of a DER ECDSA signature) is the key `identifier`'s
    signature of the raw `body`. False for an unknown identifier and for a signature that is
    not base64 or not DER, as for a wrong one."""
    key = keys.get(identifier)
    if key is None:
        return False
    try:
        der = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):  # not base64, or not ASCII at all
        return False
    try:
        key.verify(der, body, SIGNATURE_ALGORITHM)
    except InvalidSignature:
        return False
    return True
