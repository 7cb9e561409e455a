"""Wallets: custodial addresses for every supporter and farmer, and proven self-custody."""
