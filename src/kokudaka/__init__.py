"""Kokudaka: a community currency denominated in rice (KOKU) for Japanese rice towns."""

__version__ = "0.1.0"
