import pytest

from overlay_bringup.server.tls import ensure_ca, ensure_server_cert
from overlay_testing import TEST_API_KEY
from standins.fake_headscale import FakeHeadscale


@pytest.fixture
def headscale_tls(tmp_path):
    ca = ensure_ca(tmp_path / "tls", "localhost")
    server = ensure_server_cert(tmp_path / "tls", ca, "localhost", ("127.0.0.1",))
    return ca, server


@pytest.fixture
def headscale(headscale_tls):
    _, server = headscale_tls
    fake = FakeHeadscale(str(server.path), str(server.key_path), TEST_API_KEY).start()
    yield fake
    fake.stop()
