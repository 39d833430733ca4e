"""Test helpers for users of dicomul.

:mod:`dicomul.testing.strategies` holds hypothesis strategies for every PDU,
item and sub-item (install the ``testing`` extra).  Nothing is imported here,
so that importing :mod:`dicomul` never needs hypothesis.
"""

__all__: list[str] = []
