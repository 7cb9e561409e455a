"""Audit (監査): every issuance of the towns a reader may audit, with its chain state,
as a paged list and as a CSV export for town reports."""
