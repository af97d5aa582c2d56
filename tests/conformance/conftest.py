"""Tests named after the OpenID Foundation Basic OP plan's modules (oidcc-*), each asserting
what that module checks, plus the RFC 9700 MUSTs. Tokens are verified only against /jwks."""
