"""Towns as issuers on chain: each municipality's minter key."""
