"""Pure parts of proxy/egress.py as tables: proxy URLs, the bypass list (NO_PROXY), the name guard."""

import pytest

from proxy.egress import (
    EgressConfigError,
    ProxySpec,
    check_proxied_name,
    config_from_env,
    config_from_flag,
    is_internal_name,
    parse_bypass,
    parse_proxy_url,
    bypassed,
)
from proxy.guard import ALL_PRIVATE, AddressBlocked, LOOPBACK_ONLY, parse_networks

PROXY_URLS = [
    ("http://proxy.corp.example:3128", ProxySpec("http", "proxy.corp.example", 3128)),
    ("HTTP://Proxy.Corp.Example:3128/", ProxySpec("http", "proxy.corp.example", 3128)),
    ("proxy.corp.example:3128", ProxySpec("http", "proxy.corp.example", 3128)),  # curl/Python read a bare host:port as http
    ("http://proxy", ProxySpec("http", "proxy", 80)),
    ("http://user:secret@proxy:8080", ProxySpec("http", "proxy", 8080, "user", "secret")),
    ("http://us%40er:p%3As%2Fs@proxy:8080", ProxySpec("http", "proxy", 8080, "us@er", "p:s/s")),
    ("http://user@proxy:8080", ProxySpec("http", "proxy", 8080, "user", "")),
    ("http://user:@proxy:8080", ProxySpec("http", "proxy", 8080, "user", "")),
    ("http://[::1]:3128", ProxySpec("http", "::1", 3128)),
    ("http://10.0.0.5:3128", ProxySpec("http", "10.0.0.5", 3128)),
    ("socks5://proxy", ProxySpec("socks5", "proxy", 1080)),
    ("socks5h://u:p@proxy:9050", ProxySpec("socks5", "proxy", 9050, "u", "p")),
]


@pytest.mark.parametrize("text,expected", PROXY_URLS, ids=[t for t, _ in PROXY_URLS])
def test_parse_proxy_url(text, expected):
    spec = parse_proxy_url(text)
    assert spec == expected
    assert (spec.username, spec.password) == (expected.username, expected.password)


BAD_PROXY_URLS = [
    ("", "empty"),
    ("https://proxy:3128", "not supported"),
    ("socks4://proxy:1080", "scheme must be"),
    ("ftp://proxy", "scheme must be"),
    ("http://:3128", "no host"),
    ("http://proxy:99999", "bad port"),
    ("http://proxy:port", "bad port"),
    ("http://proxy:3128/path", "only scheme"),
    ("http://proxy:3128?x=1", "only scheme"),
]


@pytest.mark.parametrize("text,message", BAD_PROXY_URLS, ids=[t or "empty" for t, _ in BAD_PROXY_URLS])
def test_bad_proxy_urls(text, message):
    with pytest.raises(EgressConfigError, match=message):
        parse_proxy_url(text)


@pytest.mark.parametrize("text", ["https://user:hunter2@proxy:3128", "ftp://user:hunter2@proxy", "http://user:hunter2@proxy:3128/x",
                                  "http://user:hunter2@proxy:99999"])
def test_errors_never_show_the_password(text):
    with pytest.raises(EgressConfigError) as info:
        parse_proxy_url(text)
    assert "hunter2" not in str(info.value)


def test_spec_display_and_repr_hide_credentials():
    spec = parse_proxy_url("http://alice:hunter2@proxy.corp:3128")
    assert spec.display == "http://proxy.corp:3128"
    assert "hunter2" not in repr(spec) and "alice" not in repr(spec)
    assert parse_proxy_url("http://[::1]:3128").display == "http://[::1]:3128"


# (bypass list, host, port, bypassed?)
BYPASS = [
    ("", "example.com", 80, False),
    ("*", "example.com", 443, True),
    ("*", "10.1.2.3", 80, True),
    ("example.com", "example.com", 443, True),
    ("example.com", "www.example.com", 443, True),
    ("example.com", "a.b.example.com", 80, True),
    ("example.com", "notexample.com", 80, False),
    ("example.com", "example.com.evil.net", 80, False),
    (".example.com", "example.com", 80, True),  # leading dot optional, as in curl, wget and Python
    (".example.com", "www.example.com", 80, True),
    ("*.example.com", "www.example.com", 80, True),
    ("*.example.com", "example.com", 80, False),  # subdomains only, like Tandem's allowlist
    ("EXAMPLE.com.", "www.Example.COM.", 80, True),  # case and trailing dots don't matter
    ("a.com, b.com  c.com", "c.com", 80, True),  # commas and/or spaces
    ("a.com,,b.com", "b.com", 80, True),
    ("example.com:8080", "example.com", 8080, True),
    ("example.com:8080", "example.com", 80, False),
    ("example.com:443", "www.example.com", 443, True),
    ("10.1.2.3", "10.1.2.3", 80, True),
    ("10.1.2.3", "10.1.2.4", 80, False),
    ("10.1.2.3:8443", "10.1.2.3", 8443, True),
    ("10.1.2.3:8443", "10.1.2.3", 443, False),
    ("10.0.0.0/8", "10.200.3.4", 443, True),
    ("10.0.0.0/8", "11.0.0.1", 443, False),
    ("10.0.0.0/8", "ten.example", 443, False),  # names are never resolved to match a network
    ("192.168.0.0/16,172.16.0.0/12", "172.20.1.1", 80, True),
    ("::1", "[::1]", 80, True),
    ("[::1]", "::1", 80, True),
    ("[::1]:8080", "[::1]", 8080, True),
    ("[::1]:8080", "[::1]", 80, False),
    ("fd00::/8", "[fd12::1]", 80, True),
    ("fd00::/8", "10.0.0.1", 80, False),  # families don't mix
    ("localhost", "shop.localhost", 8081, True),
    ("bücher.example", "xn--bcher-kva.example", 80, True),  # IDN entries compare in ASCII
    ("internal", "wiki.internal", 80, True),
]


@pytest.mark.parametrize("spec,host,port,expected", BYPASS, ids=[f"{s!r}->{h}:{p}" for s, h, p, _ in BYPASS])
def test_bypass_table(spec, host, port, expected):
    assert bypassed(parse_bypass(spec), host, port) is expected


@pytest.mark.parametrize("entry", ["exa mple.com/x", "10.0.0.0/99", "host:0", "host:70000", "host:abc", "[::1", "bad_host!", "a..b"])
def test_bad_bypass_entries(entry):
    with pytest.raises(EgressConfigError, match="bypass entry"):
        parse_bypass(entry)


def test_config_scheme_choice_and_bypass():
    cfg = config_from_flag("http://proxy:3128", "intranet.example,10.0.0.0/8")
    proxy = parse_proxy_url("http://proxy:3128")
    assert cfg.proxy_for("http", "example.com") == proxy
    assert cfg.proxy_for("wss", "example.com") == proxy
    assert cfg.proxy_for("https", "wiki.intranet.example") is None
    assert cfg.proxy_for("https", "10.9.8.7", 443) is None
    assert cfg.describe() == "http://proxy:3128 (bypass: intranet.example 10.0.0.0/8)"


ENVS = [
    # environment -> (proxy for http, proxy for https)
    ({"http_proxy": "http://a:1", "https_proxy": "http://b:2"}, ("http://a:1", "http://b:2")),
    ({"HTTP_PROXY": "http://a:1", "HTTPS_PROXY": "http://b:2"}, ("http://a:1", "http://b:2")),
    ({"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:2"}, (None, "http://low:1")),  # lowercase wins
    ({"all_proxy": "socks5://s:1080"}, ("socks5://s:1080", "socks5://s:1080")),
    ({"ALL_PROXY": "socks5://s:1080", "https_proxy": "http://b:2"}, ("socks5://s:1080", "http://b:2")),
    ({"https_proxy": "b:2"}, (None, "http://b:2")),
]


@pytest.mark.parametrize("env,expected", ENVS)
def test_config_from_env(env, expected):
    cfg = config_from_env(env)
    got = tuple(p.display if p else None for p in (cfg.http, cfg.https))
    assert got == expected


def test_env_no_proxy_and_flag_bypass_add_up():
    cfg = config_from_flag("env", "extra.example", {"https_proxy": "http://p:3128", "NO_PROXY": ".corp.example, 10.0.0.0/8"})
    assert cfg.proxy_for("https", "wiki.corp.example") is None
    assert cfg.proxy_for("https", "extra.example") is None
    assert cfg.proxy_for("https", "10.1.1.1") is None
    assert cfg.proxy_for("https", "example.com") is not None
    assert cfg.proxy_for("http", "example.com") is None  # no http_proxy: plain http goes direct


@pytest.mark.parametrize("env,message", [
    ({}, "none of https_proxy"),
    ({"https_proxy": "ftp://x"}, "https_proxy: ftp://x: the proxy scheme"),
    ({"http_proxy": "http://u:hunter2@p:3128/x"}, "http_proxy: http://\\*\\*\\*@p:3128/x"),
    ({"http_proxy": "http://p:1", "no_proxy": "10.0.0.0/99"}, "no_proxy: bypass entry"),
])
def test_env_errors(env, message):
    with pytest.raises(EgressConfigError, match=message) as info:
        config_from_flag("env", "", env)
    assert "hunter2" not in str(info.value)


INTERNAL = [
    ("intranet", True),  # a single label is never public
    ("wiki.internal", True),
    ("metadata.google.internal", True),
    ("printer.local", True),
    ("git.corp", True),
    ("nas.home.arpa", True),
    ("router.lan", True),
    ("x.invalid", True),
    ("example.com", False),
    ("www.example.co.uk", False),
    ("someone.github.io", False),
    ("example.com.", False),
    ("app.dev", False),
]


@pytest.mark.parametrize("host,internal", INTERNAL)
def test_internal_names(host, internal):
    assert is_internal_name(host) is internal


# (host, allowed networks, refused?) — what the guard can still see when a proxy resolves names
PROXIED_NAMES = [
    ("example.com", (), False),
    ("localhost", (), True),
    ("shop.localhost", (), True),
    ("SHOP.LOCALHOST.", (), True),
    ("shop.localhost", LOOPBACK_ONLY, False),
    ("wiki.internal", (), True),
    ("wiki.internal", LOOPBACK_ONLY, True),
    ("wiki.internal", parse_networks("10.0.0.0/8"), True),  # a narrow list can't vouch for a name: bypass it instead
    ("wiki.internal", ALL_PRIVATE, False),
    ("intranet", ALL_PRIVATE, False),
    ("10.0.0.1", (), False),  # literals are guard.check_host's job on every route
]


@pytest.mark.parametrize("host,allowed,refused", PROXIED_NAMES, ids=[f"{h}-{len(a)}" for h, a, _ in PROXIED_NAMES])
def test_check_proxied_name(host, allowed, refused):
    if refused:
        with pytest.raises(AddressBlocked):
            check_proxied_name(host, allowed)
    else:
        check_proxied_name(host, allowed)
