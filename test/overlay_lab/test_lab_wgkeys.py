import base64
import shutil
import subprocess

import pytest

from overlay_lab.wgkeys import generate_keypair, public_key_of


def test_keypair_is_32_byte_base64_and_consistent():
    pair = generate_keypair()
    assert len(base64.b64decode(pair.private_key)) == 32
    assert public_key_of(pair.private_key) == pair.public_key
    assert generate_keypair().public_key != pair.public_key


def test_keypair_repr_hides_the_private_key():
    pair = generate_keypair()
    assert pair.private_key not in repr(pair)


@pytest.mark.skipif(shutil.which("wg") is None, reason="wireguard-tools not installed")
def test_public_key_matches_wg_pubkey():
    pair = generate_keypair()
    out = subprocess.run(["wg", "pubkey"], input=pair.private_key, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == pair.public_key
