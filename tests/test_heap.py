"""Binary max-heaps over shared arrays: pop order is key descending, then val ascending."""

from __future__ import annotations

import heapq

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.exchange.heap import grow_heaps, heap_pop, heap_push, heap_rebuild

N_HEAPS = 3
H = 1  # the heap under test; heaps 0 and 2 hold sentinels that must not move

entries = st.lists(st.tuples(st.integers(-20, 20), st.integers(0, 30)), max_size=80)


def _arrays(capacity, dtype=np.int64):
    keys = np.full((N_HEAPS, capacity), 7, dtype=dtype)
    vals = np.full((N_HEAPS, capacity), 7, dtype=np.int64)
    sizes = np.zeros(N_HEAPS, dtype=np.int64)
    return keys, vals, sizes


def _pop_all(keys, vals, sizes, h):
    out = []
    while sizes[h] > 0:
        out.append((keys[h, 0].item(), int(vals[h, 0])))
        heap_pop(keys, vals, sizes, h)
    return out


def _is_heap(keys, vals, sizes, h):
    """No child ranks above its parent (higher key, or equal key and lower val)."""
    for i in range(1, int(sizes[h])):
        p = (i - 1) // 2
        if (keys[h, i], -vals[h, i]) > (keys[h, p], -vals[h, p]):
            return False
    return True


def _others_untouched(keys, vals, sizes):
    return (sizes[[0, 2]] == 0).all() and (keys[[0, 2]] == 7).all() and (vals[[0, 2]] == 7).all()


def test_small_example_pops_largest_key_then_smallest_val():
    keys, vals, sizes = _arrays(8)
    for key, val in [(5, 3), (9, 1), (5, 1), (-2, 0), (9, 0)]:
        heap_push(keys, vals, sizes, H, key, val)
    assert _pop_all(keys, vals, sizes, H) == [(9, 0), (9, 1), (5, 1), (5, 3), (-2, 0)]


@settings(max_examples=200, deadline=None)
@given(entries)
def test_push_then_pop_gives_sorted_order(items):
    keys, vals, sizes = _arrays(max(1, len(items)))
    for key, val in items:
        heap_push(keys, vals, sizes, H, key, val)
        assert _is_heap(keys, vals, sizes, H)
    assert int(sizes[H]) == len(items)
    assert _pop_all(keys, vals, sizes, H) == sorted(items, key=lambda e: (-e[0], e[1]))
    assert _others_untouched(keys, vals, sizes)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.integers(-20, 20), st.integers(0, 30)), st.none()),
                max_size=80))
def test_interleaved_push_and_pop_match_a_reference_queue(ops):
    keys, vals, sizes = _arrays(max(1, len(ops)))
    ref: list[tuple[int, int]] = []  # heapq min-heap of (-key, val)
    for op in ops:
        if op is None:
            if not ref:
                continue
            nkey, val = heapq.heappop(ref)
            assert (int(keys[H, 0]), int(vals[H, 0])) == (-nkey, val)
            heap_pop(keys, vals, sizes, H)
        else:
            heap_push(keys, vals, sizes, H, op[0], op[1])
            heapq.heappush(ref, (-op[0], op[1]))
        assert int(sizes[H]) == len(ref)
        assert _is_heap(keys, vals, sizes, H)
    assert _others_untouched(keys, vals, sizes)


@settings(max_examples=200, deadline=None)
@given(entries)
def test_rebuild_of_arbitrary_entries_gives_a_valid_heap(items):
    keys, vals, sizes = _arrays(max(1, len(items)))
    for i, (key, val) in enumerate(items):  # written in bulk, in arbitrary order
        keys[H, i] = key
        vals[H, i] = val
    sizes[H] = len(items)
    heap_rebuild(keys, vals, sizes, H)
    assert _is_heap(keys, vals, sizes, H)
    assert sorted(zip(keys[H, : len(items)].tolist(), vals[H, : len(items)].tolist(),
                      strict=True)) == sorted(items)  # same multiset
    assert _pop_all(keys, vals, sizes, H) == sorted(items, key=lambda e: (-e[0], e[1]))
    assert _others_untouched(keys, vals, sizes)


def test_rebuild_of_a_reversed_array_with_float_keys():
    keys, vals, sizes = _arrays(6, dtype=np.float64)
    # worst case for a max-heap: ascending keys; the liquidation heaps use float keys
    keys[H, :6] = [-3.5, -1.0, 0.25, 0.25, 2.0, 8.0]
    vals[H, :6] = [0, 1, 5, 2, 4, 3]
    sizes[H] = 6
    heap_rebuild(keys, vals, sizes, H)
    assert _is_heap(keys, vals, sizes, H)
    assert _pop_all(keys, vals, sizes, H) == [(8.0, 3), (2.0, 4), (0.25, 2), (0.25, 5),
                                              (-1.0, 1), (-3.5, 0)]


def test_grow_heaps_keeps_entries_and_at_least_doubles():
    keys, vals, sizes = _arrays(3)
    for key, val in [(1, 1), (3, 3), (2, 2)]:
        heap_push(keys, vals, sizes, H, key, val)
    k2, v2 = grow_heaps(keys, vals, 5)
    assert k2.shape == (N_HEAPS, 6) and v2.shape == (N_HEAPS, 6)  # max(2 x 3, 5)
    assert (k2[:, :3] == keys).all() and (v2[:, :3] == vals).all()
    k3, _ = grow_heaps(keys, vals, 20)
    assert k3.shape == (N_HEAPS, 20)
    heap_push(k2, v2, sizes, H, 10, 0)
    assert _pop_all(k2, v2, sizes, H) == [(10, 0), (3, 3), (2, 2), (1, 1)]
