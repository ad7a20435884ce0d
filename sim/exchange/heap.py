"""Binary max-heaps over preallocated arrays, the trigger index of stops and liquidations.

Several heaps share one pair of arrays ``keys[h, i]``, ``vals[h, i]`` and a ``sizes[h]``
vector. The top is the largest key; equal keys come out smallest ``val`` first, so ties are
broken by order id (time priority) or account id, never by chance. Entries are never
removed from the middle: a cancelled stop or an outdated liquidation price stays in the
heap and is discarded when it reaches the top (lazy deletion), which keeps the check of
"has anything triggered?" at O(1) and each removal at O(log n).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _above(keys, vals, h, i, j):
    """Return True when entry i of heap h has priority over entry j."""
    if keys[h, i] != keys[h, j]:
        return keys[h, i] > keys[h, j]
    return vals[h, i] < vals[h, j]


@njit(cache=True)
def heap_push(keys, vals, sizes, h, key, val):
    """Insert (key, val) into heap h; the caller has checked that it has room."""
    i = sizes[h]
    sizes[h] = i + 1
    keys[h, i] = key
    vals[h, i] = val
    while i > 0:
        parent = (i - 1) >> 1
        if not _above(keys, vals, h, i, parent):
            break
        k = keys[h, i]
        keys[h, i] = keys[h, parent]
        keys[h, parent] = k
        v = vals[h, i]
        vals[h, i] = vals[h, parent]
        vals[h, parent] = v
        i = parent


@njit(cache=True)
def _sift_down(keys, vals, h, i, n):
    """Move entry i of heap h (n entries) down until both children rank below it."""
    while True:
        left = 2 * i + 1
        if left >= n:
            return
        best = left
        right = left + 1
        if right < n and _above(keys, vals, h, right, left):
            best = right
        if not _above(keys, vals, h, best, i):
            return
        k = keys[h, i]
        keys[h, i] = keys[h, best]
        keys[h, best] = k
        v = vals[h, i]
        vals[h, i] = vals[h, best]
        vals[h, best] = v
        i = best


@njit(cache=True)
def heap_pop(keys, vals, sizes, h):
    """Remove the top entry of heap h (which must be non-empty)."""
    n = sizes[h] - 1
    sizes[h] = n
    keys[h, 0] = keys[h, n]
    vals[h, 0] = vals[h, n]
    _sift_down(keys, vals, h, 0, n)


@njit(cache=True)
def heap_rebuild(keys, vals, sizes, h):
    """Restore the heap property of heap h after its entries were rewritten in bulk."""
    n = sizes[h]
    for i in range((n - 2) // 2, -1, -1):
        _sift_down(keys, vals, h, i, n)


def grow_heaps(
    keys: np.ndarray, vals: np.ndarray, min_capacity: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return copies of (keys, vals) with room for at least ``min_capacity`` entries per heap."""
    n_heaps, capacity = keys.shape
    new_capacity = max(2 * capacity, int(min_capacity))
    new_keys = np.zeros((n_heaps, new_capacity), dtype=keys.dtype)
    new_vals = np.zeros((n_heaps, new_capacity), dtype=vals.dtype)
    new_keys[:, :capacity] = keys
    new_vals[:, :capacity] = vals
    return new_keys, new_vals
