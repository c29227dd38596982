"""tailscaled's web proxy: the env file edit, the running daemon's environment, the decision."""
import pytest

from overlay_bringup.join.proxy import (
    environ_values,
    environment_file_values,
    plan_proxy,
    proxy_of,
    redact,
    validate_proxy_url,
    with_proxy,
)

#: /etc/default/tailscaled as the Debian package ships it
PACKAGED = ('# Set the port to listen on for incoming VPN packets.\nPORT="41641"\n\n'
            '# Extra flags you might want to pass to tailscaled.\nFLAGS=""\n')
URL = "http://proxy.campus.example:3128"


@pytest.mark.parametrize("url, says", [
    ("proxy.campus.example:3128", "must start with http://"),
    ("socks5://proxy:1080", "must start with http://"),
    ("http://:3128", "names no host"),
    ("http://proxy.campus.example", "names no port"),
    ("http://proxy:99999", "is not a URL"),
    ("http://proxy:3128/path", "has a path"),
])
def test_a_bad_proxy_url_is_named_with_what_was_expected(url, says):
    (problem,) = validate_proxy_url(url)
    assert says in problem and repr(url) in problem  # names the bad value
    assert "http://HOST:PORT" in problem or "e.g. http://" in problem  # and what was expected


@pytest.mark.parametrize("url", [URL, "https://proxy:8443", "http://u:pw@proxy:3128", "none"])
def test_good_proxy_urls_pass(url):
    assert validate_proxy_url(url) == []


def test_a_password_never_reaches_a_message():
    assert redact("http://robot:s3cret@proxy:3128") == "http://robot:***@proxy:3128"
    (problem,) = validate_proxy_url("http://robot:s3cret@proxy")
    assert "s3cret" not in problem and "***" in problem
    assert redact(URL) == URL


def test_setting_the_proxy_keeps_every_other_line_and_a_second_edit_changes_nothing():
    once = with_proxy(PACKAGED, URL)
    assert once.startswith(PACKAGED.rstrip("\n"))
    values = environment_file_values(once)
    assert values == {"PORT": "41641", "FLAGS": "", "HTTPS_PROXY": URL, "HTTP_PROXY": URL}
    assert with_proxy(once, URL) == once
    moved = with_proxy(once, "http://other:8080")
    assert environment_file_values(moved)["HTTPS_PROXY"] == "http://other:8080"
    assert moved.count("HTTPS_PROXY") == 1
    assert with_proxy(once, "none") == PACKAGED.rstrip("\n") + "\n"


def test_lower_case_proxy_lines_are_replaced_too():
    text = PACKAGED + "https_proxy=http://old:1\n"
    assert "old" not in with_proxy(text, URL)
    assert proxy_of(environment_file_values(text)) == "http://old:1"


def test_the_running_environment_is_read_from_proc_environ():
    raw = b"PATH=/usr/bin\0HTTPS_PROXY=" + URL.encode() + b"\0EMPTY=\0"
    values = environ_values(raw)
    assert values == {"PATH": "/usr/bin", "HTTPS_PROXY": URL, "EMPTY": ""}
    assert proxy_of(values) == URL


def test_plan_asks_the_file_and_the_daemon():
    fresh = plan_proxy(URL, PACKAGED, {"PATH": "/usr/bin"})
    assert fresh.new_text == with_proxy(PACKAGED, URL) and fresh.restart and fresh.changes
    written = with_proxy(PACKAGED, URL)
    settled = plan_proxy(URL, written, {"HTTPS_PROXY": URL})
    assert settled.new_text is None and not settled.restart and not settled.changes
    # the file says so, but the daemon was started before: restart only
    stale = plan_proxy(URL, written, {})
    assert stale.new_text is None and stale.restart
    # the daemon's environment cannot be read: a changed file restarts it to be sure
    assert plan_proxy(URL, PACKAGED, None).restart is True
    assert plan_proxy(URL, written, None).changes is False
    removed = plan_proxy("none", written, {"HTTPS_PROXY": URL})
    assert removed.new_text == PACKAGED.rstrip("\n") + "\n" and removed.restart
    assert not plan_proxy("none", PACKAGED, {}).changes


def test_proxy_file_reads_the_url_from_the_env_file_and_names_a_file_without_one():
    from overlay_bringup.join.proxy import proxy_from_file

    assert proxy_from_file(with_proxy(PACKAGED, URL), "/etc/default/tailscaled") == URL
    with pytest.raises(ValueError, match=r"/etc/default/tailscaled sets no HTTPS_PROXY"):
        proxy_from_file(PACKAGED, "/etc/default/tailscaled")
