"""The single sign-on settings: an https issuer, or http only on loopback and only when asked for."""

from __future__ import annotations

import pytest

from tandem.settings import Settings, SettingsError, load


def settings(**kw) -> Settings:
    return load({}, {}, {"oidc_client_id": "tandem", **kw})


@pytest.mark.parametrize("issuer", ["https://login.example.com", "https://login.example.com/realms/support"])
def test_https_issuer_is_taken(issuer):
    assert settings(oidc_issuer=issuer).oidc_issuer == issuer


@pytest.mark.parametrize("issuer", ["http://127.0.0.1:9000", "http://localhost:9000", "http://[::1]:9000"])
def test_http_issuer_on_loopback_needs_the_development_flag(issuer):
    with pytest.raises(SettingsError, match="--oidc-insecure-loopback"):
        settings(oidc_issuer=issuer)
    assert settings(oidc_issuer=issuer, oidc_insecure_loopback=True).oidc_issuer == issuer


@pytest.mark.parametrize("issuer", ["http://login.example.com", "http://10.0.0.5", "ftp://127.0.0.1",
                                    "https://login.example.com/?x=1", "https://user:pw@login.example.com",
                                    "https://login.example.com/#f", "login.example.com"])
def test_other_issuers_are_refused_even_with_the_flag(issuer):
    with pytest.raises(SettingsError):
        settings(oidc_issuer=issuer, oidc_insecure_loopback=True)


def test_issuer_needs_a_client_id_and_the_secret_comes_from_the_environment():
    with pytest.raises(SettingsError, match="--oidc-client-id"):
        load({}, {"TANDEM_OIDC_ISSUER": "https://login.example.com"})
    s = load({}, {"TANDEM_OIDC_ISSUER": "https://login.example.com", "TANDEM_OIDC_CLIENT_ID": "tandem",
                  "TANDEM_OIDC_CLIENT_SECRET": "s3cret", "TANDEM_LOCAL_PASSWORDS": "off"})
    assert (s.oidc_client_id, s.oidc_client_secret, s.local_passwords) == ("tandem", "s3cret", "off")
    with pytest.raises(SettingsError, match="TANDEM_LOCAL_PASSWORDS"):
        load({}, {"TANDEM_LOCAL_PASSWORDS": "maybe"})
