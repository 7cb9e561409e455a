"""A supporter's year (年間明細): what they paid, gave and received, kept for their records."""
