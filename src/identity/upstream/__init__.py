"""Signing in with an external OpenID provider ("Sign in with Google / Apple")."""
