"""Shared fixtures: the order-book builder (see ``tests/builders.py``)."""

from __future__ import annotations

import pytest

from tests import builders


@pytest.fixture
def make_book():
    """Return ``builders.make_book``: ``make_book(bids=..., asks=...) -> (book, ids)``."""
    return builders.make_book
