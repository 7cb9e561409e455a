"""The double-entry ledger: issuance, reversal and balances."""
