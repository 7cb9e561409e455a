"""Investments (投資・応援): yen into a work, confirmed payments, and KOKU issued for them."""
