"""Regions, municipalities (自治体, towns) and each town's per-season policy."""
