"""Accounts, sign-in, tokens and the permission checks every endpoint uses."""
