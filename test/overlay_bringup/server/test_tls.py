"""The generated CA and server certificate, verified by a real TLS handshake on loopback."""
import os
import socket
import ssl
import stat
import threading

import pytest

from overlay_bringup.server.tls import ensure_ca, ensure_server_cert


def _serve_once(cert, key):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept():
        try:
            conn, _ = listener.accept()
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"hello")
        except (ssl.SSLError, OSError):
            pass
        finally:
            listener.close()

    threading.Thread(target=accept, daemon=True).start()
    return port


def _connect(port, cafile, name="headscale.test.example"):
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=name) as tls:
        return tls.recv(5)


@pytest.fixture
def certs(tmp_path):
    ca = ensure_ca(tmp_path / "tls", "headscale.test.example")
    server = ensure_server_cert(tmp_path / "tls", ca, "headscale.test.example", ("127.0.0.1",))
    return tmp_path, ca, server


def test_tls_client_trusting_the_ca_connects(certs):
    _, ca, server = certs
    port = _serve_once(str(server.path), str(server.key_path))
    assert _connect(port, str(ca.path)) == b"hello"


def test_tls_client_with_another_ca_is_refused(certs, tmp_path):
    _, _, server = certs
    other = ensure_ca(tmp_path / "other", "someone-else")
    port = _serve_once(str(server.path), str(server.key_path))
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        _connect(port, str(other.path))


def test_tls_wrong_name_is_refused(certs):
    _, ca, server = certs
    port = _serve_once(str(server.path), str(server.key_path))
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        _connect(port, str(ca.path), name="evil.example")


def test_tls_keys_are_private_and_files_are_reused(certs):
    tmp_path, ca, server = certs
    for key in (ca.key_path, server.key_path):
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    again_ca = ensure_ca(tmp_path / "tls", "headscale.test.example")
    again = ensure_server_cert(tmp_path / "tls", again_ca, "headscale.test.example", ("127.0.0.1",))
    assert again_ca.reused and again.reused and again.fingerprint == server.fingerprint
    renamed = ensure_server_cert(tmp_path / "tls", again_ca, "new.test.example", ("127.0.0.1",))
    assert not renamed.reused and renamed.fingerprint != server.fingerprint
    rotated = ensure_ca(tmp_path / "tls", "headscale.test.example", rotate=True)
    assert not rotated.reused and rotated.fingerprint != ca.fingerprint
    assert len(ca.fingerprint.split(":")) == 32
