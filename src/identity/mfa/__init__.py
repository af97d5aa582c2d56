"""The second factor: TOTP authenticator apps and recovery codes, at sign-in and for officers."""
