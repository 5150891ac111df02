"""The leak check of the scan and export tests (tests/support/leaks.py): a hex-digit value
inside a random hex run is chance, anywhere else it is a leak; any other value counts
wherever it is."""

from __future__ import annotations

from tests.support.leaks import shows


def test_a_digit_value_counts_only_where_no_hex_digit_touches_it() -> None:
    assert not shows("70451239", "vault 3fa970451239c0de")
    assert not shows("70451239", "70451239ab")
    assert shows("70451239", "MRN 70451239, ward")
    assert shows("70451239", '"mrn":"70451239"')
    assert shows("70451239", "70451239")
    assert shows("70451239", "x70451239-")


def test_any_other_value_counts_wherever_it_is() -> None:
    assert shows("Zelphine", "aZelphineb")
    assert shows("287-65-4321", "0287-65-43210")
    assert not shows("Quarterman", "quarterman")
