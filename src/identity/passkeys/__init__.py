"""Passkeys (WebAuthn): registering them from the account page, signing in with them."""
