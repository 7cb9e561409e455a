"""Shared plumbing: settings, database, errors, units, paging and i18n."""
