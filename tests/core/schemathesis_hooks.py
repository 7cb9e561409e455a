"""Schemathesis hooks for the fuzz run (``tests/core/test_schemathesis.py``).

The OpenAPI document names two rules no pattern can state with a format of their own;
these teach the generator to make values that keep them, from the service's own rule
(a valid value is then one the API must accept, and any other one it must refuse).
"""

from __future__ import annotations

import schemathesis
from eth_utils.address import to_checksum_address
from hypothesis import strategies as st

from kokudaka.municipalities.schemas import NATIONAL_CODE_FORMAT, national_code_check_digit
from kokudaka.wallets.schemas import ADDRESS_FORMAT

_national_codes = st.from_regex(r"[0-9]{5}", fullmatch=True).map(
    lambda first_five: first_five + national_code_check_digit(first_five)
)

# An address is sent all lower case, all upper case or with its EIP-55 checksum.
_addresses = st.builds(
    lambda raw, spell: spell("0x" + raw.hex()),
    st.binary(min_size=20, max_size=20),
    st.sampled_from(
        [str.lower, lambda a: "0x" + a[2:].upper(), to_checksum_address],
    ),
)

schemathesis.openapi.format(NATIONAL_CODE_FORMAT, _national_codes)
schemathesis.openapi.format(ADDRESS_FORMAT, _addresses)
