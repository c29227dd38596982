"""WireGuard key pairs (Curve25519, base64 as ``wg genkey``/``wg pubkey`` print them)."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey


@dataclass(frozen=True)
class WireGuardKeyPair:
    public_key: str
    private_key: str = field(repr=False)  # never shown in reprs or logs


def generate_keypair() -> WireGuardKeyPair:
    private = X25519PrivateKey.generate()
    raw_private = private.private_bytes(serialization.Encoding.Raw,
                                        serialization.PrivateFormat.Raw,
                                        serialization.NoEncryption())
    raw_public = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                   serialization.PublicFormat.Raw)
    return WireGuardKeyPair(public_key=base64.b64encode(raw_public).decode(),
                            private_key=base64.b64encode(raw_private).decode())


def public_key_of(private_key_b64: str) -> str:
    raw = base64.b64decode(private_key_b64, validate=True)
    public = X25519PrivateKey.from_private_bytes(raw).public_key()
    return base64.b64encode(public.public_bytes(serialization.Encoding.Raw,
                                                serialization.PublicFormat.Raw)).decode()
