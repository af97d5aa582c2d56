"""The provider's request adapter stays in step with Authlib's own request class."""

from __future__ import annotations

import os

from authlib.oauth2.rfc6749 import OAuth2Request

from identity.oidc.server import ProviderRequest


def test_the_adapter_sets_every_attribute_authlibs_request_sets():
    theirs = OAuth2Request("GET", "https://id.example/authorize", headers={})
    ours = ProviderRequest("GET", "https://id.example/authorize", {}, [("a", "1")])
    assert set(vars(theirs)) <= set(vars(ours))


def test_a_plain_http_issuer_needs_no_process_wide_environment_variable():
    ProviderRequest("GET", "http://testserver/authorize", {}, [])
    assert "AUTHLIB_INSECURE_TRANSPORT" not in os.environ
