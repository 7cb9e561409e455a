"""The KOKU token on an EVM chain: contract artifact, node, client, refs and error mapping."""
