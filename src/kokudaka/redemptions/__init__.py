"""Redeeming rice bills (米手形) for rice: requests, shipping, receipt, deliveries."""
