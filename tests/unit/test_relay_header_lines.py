"""The relay's own encoding of a message's header block (services.ledger.sequenced_publish)."""

from __future__ import annotations

import pytest

from services.ledger.sequenced_publish import encode_header_lines


def test_each_header_is_one_line() -> None:
    lines = encode_header_lines({"ce-id": "e-1", "Ledger-Position": "7"})
    assert lines == b"ce-id: e-1\r\nLedger-Position: 7\r\n"


@pytest.mark.parametrize("value", ["a\r\nInjected: 1", "a\nb", "a\rb"])
def test_a_value_that_breaks_a_line_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="line break"):
        encode_header_lines({"ce-source": value})


def test_a_name_that_breaks_a_line_is_refused() -> None:
    with pytest.raises(ValueError, match="line break"):
        encode_header_lines({"X\r\nY": "1"})
