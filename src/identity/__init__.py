"""identity: customer identity, SSO and privacy preference center."""
