"""Notices (お知らせ) to a person, which the mobile app polls."""
