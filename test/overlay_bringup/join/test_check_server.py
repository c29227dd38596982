"""Join's server check over real HTTPS on loopback: a certificate refused for its dates names
this machine's clock and the certificate's validity; a name that does not resolve is DNS."""
import http.server
import ssl
import threading
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from overlay_bringup.join.plan import clock_problem
from overlay_bringup.join.runner import check_server
from overlay_monitor.errors import ProxyUnreachable, ServerNotTrusted, ServerUnreachable
from overlay_testing import Tinyproxy


def _cert(tmp_path, not_before, not_after):
    """A self-signed certificate for 127.0.0.1 valid only between the two times (its own CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    import ipaddress
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(
                ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return tmp_path / "cert.pem", tmp_path / "key.pem"


@pytest.fixture
def https_server(tmp_path):
    servers = []

    def start(not_before, not_after):
        cert, key = _cert(tmp_path, not_before, not_after)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                 http.server.BaseHTTPRequestHandler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"https://127.0.0.1:{server.server_address[1]}", str(cert)

    yield start
    for server in servers:
        server.shutdown()


def test_a_certificate_not_yet_valid_names_this_machines_clock(https_server):
    now = datetime.now(timezone.utc)
    url, ca = https_server(now + timedelta(days=2), now + timedelta(days=400))
    with pytest.raises(ServerNotTrusted, match="this machine's clock says .* UTC, before the "
                                               "server certificate's validity .valid from") as err:
        check_server(url, ca)
    assert "timedatectl set-ntp true" in str(err.value)
    assert f"{now + timedelta(days=2):%Y-%m-%d}" in str(err.value)


def test_an_expired_certificate_names_the_clock_too(https_server):
    now = datetime.now(timezone.utc)
    url, ca = https_server(now - timedelta(days=400), now - timedelta(days=1))
    with pytest.raises(ServerNotTrusted, match="after the server certificate's validity"):
        check_server(url, ca)


def test_a_valid_certificate_passes(https_server):
    now = datetime.now(timezone.utc)
    url, ca = https_server(now - timedelta(hours=1), now + timedelta(days=30))
    check_server(url, ca)  # no error: the server answered over trusted TLS


def test_a_name_that_does_not_resolve_is_named_as_dns():
    with pytest.raises(ServerUnreachable, match="the name 'no-such-server.invalid' does not "
                                                "resolve on this machine"):
        check_server("https://no-such-server.invalid", None, timeout_s=5)


def test_clock_problem_is_empty_inside_the_validity():
    now = datetime.now(timezone.utc)
    assert clock_problem(now, now - timedelta(days=1), now + timedelta(days=1)) == ""


@pytest.fixture
def tinyproxy(tmp_path):
    proxies = []

    def start(*connect_ports):
        proxy = Tinyproxy(tmp_path, connect_ports)
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.stop()


def _valid(https_server):
    now = datetime.now(timezone.utc)
    return https_server(now - timedelta(days=1), now + timedelta(days=30))


def test_the_check_goes_through_a_real_web_proxy_with_connect(https_server, tinyproxy):
    url, ca = _valid(https_server)
    proxy = tinyproxy()
    check_server(url, ca, proxy=proxy.url)
    assert proxy.connects() == 1
    assert f"CONNECT 127.0.0.1:{url.rsplit(':', 1)[1]}" in proxy.log.read_text()


def test_a_proxy_that_refuses_the_connect_is_named_with_the_target(https_server, tinyproxy):
    url, ca = _valid(https_server)
    proxy = tinyproxy(443)  # a campus proxy that CONNECTs to 443 only; the server is elsewhere
    with pytest.raises(ProxyUnreachable, match=r"refused to CONNECT to 127\.0\.0\.1:\d+") as err:
        check_server(url, ca, proxy=proxy.url)
    assert err.value.exit_code == 18 and proxy.url in str(err.value)


def test_a_proxy_that_is_down_is_named(https_server, tinyproxy):
    url, ca = _valid(https_server)
    proxy = tinyproxy()
    proxy.stop()
    with pytest.raises(ProxyUnreachable, match="cannot be reached.*--proxy URL"):
        check_server(url, ca, proxy=proxy.url)


def test_a_proxy_url_that_is_no_proxy_is_named(https_server):
    url, ca = _valid(https_server)
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    try:
        wrong = f"http://127.0.0.1:{plain.server_address[1]}"
        with pytest.raises(ProxyUnreachable, match=wrong):
            check_server(url, ca, proxy=wrong)
    finally:
        plain.shutdown()
