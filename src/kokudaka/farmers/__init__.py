"""Farmers (アーティスト, artists): their public profiles and their support ledger."""
