"""The harvest: boards on works, yield reports countersigned by the town, the harvest ratio."""
