"""A limit order book in integer ticks and lots: numba kernels over preallocated arrays.

State lives in five arrays (no jitclass, so every kernel is cached on disk):

- ``orders[slot, O_*]``: the order pool. A slot holds a resting limit order or a waiting stop.
  Free slots form a linked list through ``O_NEXT``. An order id is ``seq << 32 | slot`` with a
  per-book sequence number, so ids are unique, increase with time, and find their slot in O(1).
- ``levels[side, tick - base, L_*]``: a dense price ladder; each level is a FIFO list of slots.
  Side index 0 holds bids, 1 holds asks.
- ``owner[account, W_*]``: per account, the head of its list of orders and the lots and value
  (ticks x lots) it has resting on each side, which the exchange turns into order margin.
- ``stops[h, i, 0:2]``: four trigger heaps (sell/buy x last/mark) of (key, order id).
- ``meta[M_*]``: best prices, counters and heap sizes.

Fills are appended to a structured array (``FILL_DTYPE``) that the caller drains.
Matching follows price-time priority; fills print at the resting order's price. Self-trade
prevention cancels the resting order of the taker's own account and goes on matching.

Kernels never grow arrays: they first check capacity and, when short, return a ``NEED_*``
code without touching the state; ``OrderBook`` grows the array and calls again.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit
from numba.core.errors import NumbaError

from sim.exchange.codes import (
    BUY,
    FLAG_STOP,
    IOC,
    LIMIT,
    MARKET,
    NEED_FILL_CAPACITY,
    NEED_LADDER,
    NEED_ORDER_CAPACITY,
    NEED_STOP_CAPACITY,
    OK,
    POST_ONLY,
    REJECT_BAD_KIND,
    REJECT_BAD_PRICE,
    REJECT_BAD_QTY,
    REJECT_BAD_SIDE,
    REJECT_BAD_TRIGGER,
    REJECT_POST_ONLY_WOULD_CROSS,
    REJECT_UNKNOWN_ACCOUNT,
    REJECT_UNKNOWN_ORDER,
    SELL,
    STOP_MARKET,
    TRIGGER_LAST,
    TRIGGER_MARK,
    Status,
)
from sim.exchange.heap import heap_pop, heap_push
from sim.exchange.layouts import (
    FILL_DTYPE,
    L_HEAD,
    L_QTY,
    L_TAIL,
    M_BASE_TICK,
    M_BEST_ASK,
    M_BEST_BID,
    M_FREE_HEAD,
    M_LAST_PRICE,
    M_MESSAGES,
    M_N_ASKS,
    M_N_BIDS,
    M_N_FILLS,
    M_N_STOPS,
    M_NEXT_SEQ,
    M_STOP_SIZES,
    M_VOLUME,
    MARKET_BUY_LIMIT,
    N_META,
    N_ORDER_FIELDS,
    N_OWNER_FIELDS,
    NIL,
    NO_PRICE,
    O_ACCOUNT,
    O_ID,
    O_IS_STOP,
    O_NEXT,
    O_OWNER_NEXT,
    O_OWNER_PREV,
    O_PREV,
    O_PRICE,
    O_QTY,
    O_REDUCE_ONLY,
    O_SIDE,
    O_TRIGGER,
    SLOT_BITS,
    SLOT_MASK,
    W_BUY_LOTS,
    W_BUY_VALUE,
    W_HEAD,
    W_SELL_LOTS,
    W_SELL_VALUE,
)


@njit(cache=True, inline="always")
def _side_index(side):
    return 0 if side == BUY else 1


@njit(cache=True, inline="always")
def stop_heap_index(side, trigger):
    """Return the heap of a stop: 0 sell/last, 1 buy/last, 2 sell/mark, 3 buy/mark."""
    return (0 if side == SELL else 1) + 2 * trigger


@njit(cache=True, inline="always")
def order_slot(orders, order_id):
    """Return the pool slot holding ``order_id``, or -1 if it is not live."""
    if order_id <= 0:
        return NIL
    slot = order_id & SLOT_MASK
    if slot >= orders.shape[0] or orders[slot, O_ID] != order_id:
        return NIL
    return slot


# ---------------------------------------------------------------- pool and lists


@njit(cache=True, inline="always")
def _alloc_slot(orders, meta, account, side, qty, price):
    slot = meta[M_FREE_HEAD]
    meta[M_FREE_HEAD] = orders[slot, O_NEXT]
    seq = meta[M_NEXT_SEQ]
    meta[M_NEXT_SEQ] = seq + 1
    orders[slot, O_ID] = (seq << SLOT_BITS) | slot
    orders[slot, O_PRICE] = price
    orders[slot, O_QTY] = qty
    orders[slot, O_SIDE] = side
    orders[slot, O_ACCOUNT] = account
    orders[slot, O_NEXT] = NIL
    orders[slot, O_PREV] = NIL
    orders[slot, O_IS_STOP] = 0
    orders[slot, O_TRIGGER] = TRIGGER_LAST
    orders[slot, O_REDUCE_ONLY] = 0
    return slot


@njit(cache=True, inline="always")
def _new_taker_id(orders, meta):
    """Return a fresh id for an order that never rests (slot bits all ones)."""
    seq = meta[M_NEXT_SEQ]
    meta[M_NEXT_SEQ] = seq + 1
    return (seq << SLOT_BITS) | SLOT_MASK


@njit(cache=True, inline="always")
def _free_slot(orders, meta, slot):
    orders[slot, O_ID] = NIL
    orders[slot, O_QTY] = 0
    orders[slot, O_NEXT] = meta[M_FREE_HEAD]
    meta[M_FREE_HEAD] = slot


@njit(cache=True, inline="always")
def _owner_link(orders, owner, slot):
    account = orders[slot, O_ACCOUNT]
    head = owner[account, W_HEAD]
    orders[slot, O_OWNER_PREV] = NIL
    orders[slot, O_OWNER_NEXT] = head
    if head != NIL:
        orders[head, O_OWNER_PREV] = slot
    owner[account, W_HEAD] = slot


@njit(cache=True, inline="always")
def _owner_unlink(orders, owner, slot):
    account = orders[slot, O_ACCOUNT]
    prev = orders[slot, O_OWNER_PREV]
    nxt = orders[slot, O_OWNER_NEXT]
    if prev == NIL:
        owner[account, W_HEAD] = nxt
    else:
        orders[prev, O_OWNER_NEXT] = nxt
    if nxt != NIL:
        orders[nxt, O_OWNER_PREV] = prev


@njit(cache=True, inline="always")
def _owner_resting_change(owner, account, side, qty, price):
    if side == BUY:
        owner[account, W_BUY_LOTS] += qty
        owner[account, W_BUY_VALUE] += qty * price
    else:
        owner[account, W_SELL_LOTS] += qty
        owner[account, W_SELL_VALUE] += qty * price


@njit(cache=True, inline="always")
def _level_append(orders, levels, meta, owner, slot):
    """Queue a resting order at the back of its level and update best price and totals."""
    side = orders[slot, O_SIDE]
    price = orders[slot, O_PRICE]
    qty = orders[slot, O_QTY]
    s = _side_index(side)
    idx = price - meta[M_BASE_TICK]
    tail = levels[s, idx, L_TAIL]
    orders[slot, O_PREV] = tail
    orders[slot, O_NEXT] = NIL
    if tail == NIL:
        levels[s, idx, L_HEAD] = slot
    else:
        orders[tail, O_NEXT] = slot
    levels[s, idx, L_TAIL] = slot
    levels[s, idx, L_QTY] += qty
    _owner_link(orders, owner, slot)
    _owner_resting_change(owner, orders[slot, O_ACCOUNT], side, qty, price)
    if side == BUY:
        meta[M_N_BIDS] += 1
        if meta[M_BEST_BID] == NO_PRICE or price > meta[M_BEST_BID]:
            meta[M_BEST_BID] = price
    else:
        meta[M_N_ASKS] += 1
        if meta[M_BEST_ASK] == NO_PRICE or price < meta[M_BEST_ASK]:
            meta[M_BEST_ASK] = price


@njit(cache=True, inline="always")
def _advance_best(levels, meta, side):
    """Move the best price of ``side`` off an emptied level to the next non-empty one."""
    base = meta[M_BASE_TICK]
    n_levels = levels.shape[1]
    if side == BUY:
        if meta[M_N_BIDS] == 0:
            meta[M_BEST_BID] = NO_PRICE
            return
        idx = meta[M_BEST_BID] - base
        while idx >= 0 and levels[0, idx, L_HEAD] == NIL:
            idx -= 1
        meta[M_BEST_BID] = idx + base
    else:
        if meta[M_N_ASKS] == 0:
            meta[M_BEST_ASK] = NO_PRICE
            return
        idx = meta[M_BEST_ASK] - base
        while idx < n_levels and levels[1, idx, L_HEAD] == NIL:
            idx += 1
        meta[M_BEST_ASK] = idx + base


@njit(cache=True, inline="always")
def _level_remove(orders, levels, meta, owner, slot):
    """Take a resting order off its level (its remaining qty leaves the level totals)."""
    side = orders[slot, O_SIDE]
    price = orders[slot, O_PRICE]
    qty = orders[slot, O_QTY]
    s = _side_index(side)
    idx = price - meta[M_BASE_TICK]
    prev = orders[slot, O_PREV]
    nxt = orders[slot, O_NEXT]
    if prev == NIL:
        levels[s, idx, L_HEAD] = nxt
    else:
        orders[prev, O_NEXT] = nxt
    if nxt == NIL:
        levels[s, idx, L_TAIL] = prev
    else:
        orders[nxt, O_PREV] = prev
    levels[s, idx, L_QTY] -= qty
    _owner_unlink(orders, owner, slot)
    _owner_resting_change(owner, orders[slot, O_ACCOUNT], side, -qty, price)
    if side == BUY:
        meta[M_N_BIDS] -= 1
        if price == meta[M_BEST_BID] and levels[s, idx, L_HEAD] == NIL:
            _advance_best(levels, meta, BUY)
    else:
        meta[M_N_ASKS] -= 1
        if price == meta[M_BEST_ASK] and levels[s, idx, L_HEAD] == NIL:
            _advance_best(levels, meta, SELL)


# ---------------------------------------------------------------- matching


@njit(cache=True)
def match(orders, levels, meta, owner, fills, taker_id, account, side, qty, limit_price, flags):
    """Match a taker order against the opposite side; return the lots filled.

    ``limit_price`` bounds the prices the taker accepts (use 0 for a market sell and
    ``MARKET_BUY_LIMIT`` for a market buy). The caller has made sure ``fills`` has room for one
    fill per resting order on the opposite side.
    """
    remaining = qty
    base = meta[M_BASE_TICK]
    if side == BUY:
        opp = 1
        best_key = M_BEST_ASK
    else:
        opp = 0
        best_key = M_BEST_BID
    while remaining > 0:
        best = meta[best_key]
        if best == NO_PRICE:
            break
        if side == BUY and best > limit_price:
            break
        if side == SELL and best < limit_price:
            break
        idx = best - base
        slot = levels[opp, idx, L_HEAD]
        while slot != NIL and remaining > 0:
            nxt = orders[slot, O_NEXT]
            maker_account = orders[slot, O_ACCOUNT]
            if maker_account == account:
                # Self-trade prevention: the resting order of the taker's own account expires.
                _level_remove(orders, levels, meta, owner, slot)
                _free_slot(orders, meta, slot)
                slot = nxt
                continue
            resting = orders[slot, O_QTY]
            traded = resting if resting < remaining else remaining
            k = meta[M_N_FILLS]
            meta[M_N_FILLS] = k + 1
            fills[k].price = best
            fills[k].qty = traded
            fills[k].maker_order = orders[slot, O_ID]
            fills[k].maker_account = maker_account
            fills[k].taker_order = taker_id
            fills[k].taker_account = account
            fills[k].taker_side = side
            fills[k].flags = flags
            remaining -= traded
            meta[M_VOLUME] += traded
            meta[M_LAST_PRICE] = best
            if traded == resting:
                _level_remove(orders, levels, meta, owner, slot)
                _free_slot(orders, meta, slot)
            else:
                orders[slot, O_QTY] = resting - traded
                levels[opp, idx, L_QTY] -= traded
                _owner_resting_change(owner, maker_account, -side, -traded, best)
            slot = nxt
    return qty - remaining


@njit(cache=True)
def fill_room_needed(meta, side):
    """Return the most fills one taker order of ``side`` can produce now."""
    return (meta[M_N_ASKS] if side == BUY else meta[M_N_BIDS]) + 1


@njit(cache=True, inline="always")
def validate_order(owner, account, side, kind, qty, price, trigger):
    """Return OK or the reject code of an order's fields (capacity is not checked here)."""
    if account < 0 or account >= owner.shape[0]:
        return REJECT_UNKNOWN_ACCOUNT
    if side != BUY and side != SELL:
        return REJECT_BAD_SIDE
    if kind < LIMIT or kind > STOP_MARKET:
        return REJECT_BAD_KIND
    if qty <= 0:
        return REJECT_BAD_QTY
    if kind != MARKET and price <= 0:
        return REJECT_BAD_PRICE
    if kind == STOP_MARKET and trigger != TRIGGER_LAST and trigger != TRIGGER_MARK:
        return REJECT_BAD_TRIGGER
    return OK


@njit(cache=True, inline="always")
def book_submit(orders, levels, meta, owner, fills, stops, account, side, kind, qty, price,
                trigger, reduce_only, flags):
    """Enter an order; return (status, order_id, filled_lots).

    ``price`` is the limit price (LIMIT, IOC, POST_ONLY) or stop price (STOP_MARKET) in ticks;
    it is ignored for MARKET. ``trigger`` and ``reduce_only`` apply to stops.
    """
    status = validate_order(owner, account, side, kind, qty, price, trigger)
    if status != OK:
        return status, 0, 0
    rests = kind == LIMIT or kind == POST_ONLY or kind == STOP_MARKET
    if rests and meta[M_FREE_HEAD] == NIL:
        return NEED_ORDER_CAPACITY, 0, 0
    if kind == STOP_MARKET:
        h = stop_heap_index(side, trigger)
        if meta[M_STOP_SIZES + h] >= stops.shape[1]:
            return NEED_STOP_CAPACITY, 0, 0
        slot = _alloc_slot(orders, meta, account, side, qty, price)
        orders[slot, O_IS_STOP] = 1
        orders[slot, O_TRIGGER] = trigger
        orders[slot, O_REDUCE_ONLY] = 1 if reduce_only else 0
        _owner_link(orders, owner, slot)
        # Sell stops fire when price falls to the stop: the highest stop fires first.
        key = price if side == SELL else -price
        oid = orders[slot, O_ID]
        heap_push(stops[:, :, 0], stops[:, :, 1], meta[M_STOP_SIZES:M_STOP_SIZES + 4], h, key,
                  oid)
        meta[M_N_STOPS] += 1
        meta[M_MESSAGES] += 1
        return OK, oid, 0
    if kind == LIMIT or kind == POST_ONLY:
        idx = price - meta[M_BASE_TICK]
        if idx < 0 or idx >= levels.shape[1]:
            return NEED_LADDER, 0, 0
    if kind == POST_ONLY:
        if side == BUY and meta[M_BEST_ASK] != NO_PRICE and price >= meta[M_BEST_ASK]:
            return REJECT_POST_ONLY_WOULD_CROSS, 0, 0
        if side == SELL and meta[M_BEST_BID] != NO_PRICE and price <= meta[M_BEST_BID]:
            return REJECT_POST_ONLY_WOULD_CROSS, 0, 0
    if meta[M_N_FILLS] + fill_room_needed(meta, side) > fills.shape[0]:
        return NEED_FILL_CAPACITY, 0, 0
    meta[M_MESSAGES] += 1
    if kind == MARKET:
        limit_price = MARKET_BUY_LIMIT if side == BUY else 0
    else:
        limit_price = price
    if rests:
        slot = _alloc_slot(orders, meta, account, side, qty, price)
        oid = orders[slot, O_ID]
    else:
        slot = NIL
        oid = _new_taker_id(orders, meta)
    filled = 0
    if kind != POST_ONLY:
        filled = match(orders, levels, meta, owner, fills, oid, account, side, qty, limit_price,
                       flags)
    if slot != NIL:
        if filled < qty:
            orders[slot, O_QTY] = qty - filled
            _level_append(orders, levels, meta, owner, slot)
        else:
            _free_slot(orders, meta, slot)
    return OK, oid, filled


@njit(cache=True, inline="always")
def book_cancel(orders, levels, meta, owner, order_id):
    """Cancel a resting order or a waiting stop; return a status code."""
    slot = order_slot(orders, order_id)
    if slot == NIL:
        return REJECT_UNKNOWN_ORDER
    if orders[slot, O_IS_STOP] == 1:
        # Its heap entry goes stale and is dropped when it reaches the top.
        _owner_unlink(orders, owner, slot)
        meta[M_N_STOPS] -= 1
    else:
        _level_remove(orders, levels, meta, owner, slot)
    _free_slot(orders, meta, slot)
    meta[M_MESSAGES] += 1
    return OK


@njit(cache=True)
def cancel_account_orders(orders, levels, meta, owner, account):
    """Cancel every resting order and stop of ``account``; return how many were cancelled."""
    n = 0
    slot = owner[account, W_HEAD]
    while slot != NIL:
        nxt = orders[slot, O_OWNER_NEXT]
        book_cancel(orders, levels, meta, owner, orders[slot, O_ID])
        n += 1
        slot = nxt
    return n


# ---------------------------------------------------------------- stops


@njit(cache=True)
def stop_peek(orders, meta, stops, h):
    """Return (key, order_id) of the first live stop in heap h, or (0, -1) if none.

    Stale entries (cancelled or already fired stops) are dropped on the way. A heap index
    outside 0..3 holds no stop.
    """
    if h < 0 or h >= 4:
        return 0, NIL
    sizes = meta[M_STOP_SIZES:M_STOP_SIZES + 4]
    keys = stops[:, :, 0]
    vals = stops[:, :, 1]
    while sizes[h] > 0:
        oid = vals[h, 0]
        if order_slot(orders, oid) != NIL:
            return keys[h, 0], oid
        heap_pop(keys, vals, sizes, h)
    return 0, NIL


@njit(cache=True)
def stop_release(orders, meta, owner, stops, h):
    """Pop the live stop at the top of heap h; return (order_id, account, side, qty, reduce_only).

    The stop leaves the pool; the caller executes it as a market order under the same id.
    When heap h has no live stop (``stop_peek`` gives -1) it returns ``(-1, -1, 0, 0, 0)``
    and changes nothing but dropping the stale entries: callers should peek first, and must
    check the id when they do not.
    """
    key, oid = stop_peek(orders, meta, stops, h)
    if oid == NIL:
        # Popping an empty heap would drive its size negative and free slot -1 (the pool's
        # last row), corrupting the free list.
        return NIL, NIL, 0, 0, 0
    heap_pop(stops[:, :, 0], stops[:, :, 1], meta[M_STOP_SIZES:M_STOP_SIZES + 4], h)
    slot = order_slot(orders, oid)
    account = orders[slot, O_ACCOUNT]
    side = orders[slot, O_SIDE]
    qty = orders[slot, O_QTY]
    reduce_only = orders[slot, O_REDUCE_ONLY]
    _owner_unlink(orders, owner, slot)
    _free_slot(orders, meta, slot)
    meta[M_N_STOPS] -= 1
    return oid, account, side, qty, reduce_only


@njit(cache=True)
def execute_market(orders, levels, meta, owner, fills, order_id, account, side, qty, limit_price,
                   flags):
    """Match an order under an existing id (a fired stop, a liquidation); return lots filled.

    ``limit_price`` of 0 (sell) or ``MARKET_BUY_LIMIT`` (buy) makes it a market order. The caller
    has made sure ``fills`` has room (``fill_room_needed``).
    """
    if order_id == NIL:
        order_id = _new_taker_id(orders, meta)
    return match(orders, levels, meta, owner, fills, order_id, account, side, qty, limit_price,
                 flags)


# ---------------------------------------------------------------- queries


@njit(cache=True)
def depth(levels, meta, side, n):
    """Return (prices, qtys) of the first ``n`` non-empty levels of ``side``, best first."""
    prices = np.empty(n, dtype=np.int64)
    qtys = np.empty(n, dtype=np.int64)
    base = meta[M_BASE_TICK]
    k = 0
    if side == BUY:
        if meta[M_BEST_BID] == NO_PRICE:
            return prices[:0], qtys[:0]
        idx = meta[M_BEST_BID] - base
        while idx >= 0 and k < n:
            if levels[0, idx, L_QTY] > 0:
                prices[k] = idx + base
                qtys[k] = levels[0, idx, L_QTY]
                k += 1
            idx -= 1
    else:
        if meta[M_BEST_ASK] == NO_PRICE:
            return prices[:0], qtys[:0]
        idx = meta[M_BEST_ASK] - base
        while idx < levels.shape[1] and k < n:
            if levels[1, idx, L_QTY] > 0:
                prices[k] = idx + base
                qtys[k] = levels[1, idx, L_QTY]
                k += 1
            idx += 1
    return prices[:k], qtys[:k]


@njit(cache=True)
def depth_to_price(levels, meta, taker_side, target):
    """Return (lots, value) a ``taker_side`` taker must take to move the best price to ``target``.

    It is the resting opposite quantity strictly better than ``target`` (value in ticks x lots):
    once it is taken, the next trade prints at ``target`` or beyond.
    """
    base = meta[M_BASE_TICK]
    lots = 0
    value = 0
    if taker_side == BUY:
        best = meta[M_BEST_ASK]
        if best == NO_PRICE:
            return 0, 0
        stop = min(target - base, levels.shape[1])
        for idx in range(best - base, stop):
            q = levels[1, idx, L_QTY]
            lots += q
            value += q * (idx + base)
    else:
        best = meta[M_BEST_BID]
        if best == NO_PRICE:
            return 0, 0
        stop = max(target - base, -1)
        for idx in range(best - base, stop, -1):
            q = levels[0, idx, L_QTY]
            lots += q
            value += q * (idx + base)
    return lots, value


@njit(cache=True)
def market_value(levels, meta, taker_side, lots_wanted):
    """Return (lots, value in ticks x lots) a market order of ``lots_wanted`` would take now."""
    base = meta[M_BASE_TICK]
    if taker_side == BUY:
        best = meta[M_BEST_ASK]
        s = 1
        step = 1
    else:
        best = meta[M_BEST_BID]
        s = 0
        step = -1
    lots = 0
    value = 0
    if best == NO_PRICE:
        return lots, value
    idx = best - base
    while 0 <= idx < levels.shape[1] and lots < lots_wanted:
        q = min(levels[s, idx, L_QTY], lots_wanted - lots)
        lots += q
        value += q * (idx + base)
        idx += step
    return lots, value


@njit(cache=True)
def impact_price(levels, meta, taker_side, value):
    """Return the average price (ticks) of taking ``value`` (ticks x lots), or NaN if too thin.

    Binance USDⓈ-M Futures, 'Introduction to Binance Futures Funding Rates': the impact bid
    (ask) price is the average fill price of a market sell (buy) of the impact margin notional.
    """
    base = meta[M_BASE_TICK]
    lots = 0.0
    taken = 0.0
    if taker_side == BUY:
        best = meta[M_BEST_ASK]
        if best == NO_PRICE:
            return np.nan
        idx = best - base
        step = 1
        s = 1
    else:
        best = meta[M_BEST_BID]
        if best == NO_PRICE:
            return np.nan
        idx = best - base
        step = -1
        s = 0
    while 0 <= idx < levels.shape[1]:
        q = levels[s, idx, L_QTY]
        if q > 0:
            price = float(idx + base)
            level_value = q * price
            if taken + level_value >= value:
                lots += (value - taken) / price
                return value / lots
            taken += level_value
            lots += q
        idx += step
    return np.nan


@njit(cache=True)
def crossed(meta):
    """Return True if the best bid is at or above the best ask."""
    bid = meta[M_BEST_BID]
    ask = meta[M_BEST_ASK]
    return bid != NO_PRICE and ask != NO_PRICE and bid >= ask


# ---------------------------------------------------------------- Python wrapper


class OrderResult(NamedTuple):
    """Outcome of one order entry: status, the order's id, lots filled and its fills."""

    status: Status
    order_id: int
    filled: int
    fills: np.ndarray


_NO_FILLS = np.zeros(0, dtype=FILL_DTYPE)
_NO_FILLS.flags.writeable = False


class OrderBook:
    """One instrument's order book: the arrays above plus growth and a per-order Python API.

    Args:
        n_accounts: accounts that may trade (ids ``0 .. n_accounts - 1``); see ``add_accounts``.
        center_tick: the ladder is laid around this price (ticks).
        n_levels: initial ladder length; it grows when an order lands outside it.
        order_capacity: initial pool size; it doubles when full.
    """

    def __init__(self, n_accounts: int, center_tick: int = 1_000_000, n_levels: int = 1 << 16,
                 order_capacity: int = 1 << 12, fill_capacity: int = 1 << 12,
                 stop_capacity: int = 1 << 10) -> None:
        for name, value in (("n_accounts", n_accounts), ("center_tick", center_tick),
                            ("n_levels", n_levels), ("order_capacity", order_capacity),
                            ("fill_capacity", fill_capacity), ("stop_capacity", stop_capacity)):
            if not (is_number(value) and math.isfinite(value) and value == int(value)
                    and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.meta = np.zeros(N_META, dtype=np.int64)
        self.meta[M_BASE_TICK] = max(1, int(center_tick) - int(n_levels) // 2)
        self.meta[M_BEST_BID] = NO_PRICE
        self.meta[M_BEST_ASK] = NO_PRICE
        self.meta[M_NEXT_SEQ] = 1
        self.meta[M_FREE_HEAD] = NIL
        self.levels = np.full((2, int(n_levels), 3), NIL, dtype=np.int64)
        self.levels[:, :, L_QTY] = 0
        self.orders = np.zeros((0, N_ORDER_FIELDS), dtype=np.int64)
        self._grow_orders(int(order_capacity))
        self.owner = np.zeros((0, N_OWNER_FIELDS), dtype=np.int64)
        self.add_accounts(int(n_accounts))
        self.fills = np.zeros(int(fill_capacity), dtype=FILL_DTYPE)
        self.stops = np.zeros((4, int(stop_capacity), 2), dtype=np.int64)

    # -- growth

    def add_accounts(self, n: int) -> None:
        """Make room for ``n`` more accounts."""
        n = check_int("n", n, low=0)
        extra = np.zeros((n, N_OWNER_FIELDS), dtype=np.int64)
        extra[:, W_HEAD] = NIL
        self.owner = np.concatenate([self.owner, extra])

    def _grow_orders(self, new_capacity: int) -> None:
        old = self.orders.shape[0]
        grown = np.zeros((new_capacity, N_ORDER_FIELDS), dtype=np.int64)
        grown[:old] = self.orders
        grown[old:, O_ID] = NIL
        # Chain the new slots into the free list, lowest slot first.
        grown[old:, O_NEXT] = np.arange(old + 1, new_capacity + 1)
        grown[new_capacity - 1, O_NEXT] = self.meta[M_FREE_HEAD]
        self.meta[M_FREE_HEAD] = old
        self.orders = grown

    def _grow_fills(self) -> None:
        need = int(self.meta[M_N_FILLS]) + int(self.meta[M_N_BIDS] + self.meta[M_N_ASKS]) + 2
        grown = np.zeros(max(2 * self.fills.shape[0], need), dtype=FILL_DTYPE)
        grown[: self.fills.shape[0]] = self.fills
        self.fills = grown

    def _grow_stops(self) -> None:
        n = self.stops.shape[1]
        grown = np.zeros((4, 2 * n, 2), dtype=np.int64)
        grown[:, :n] = self.stops
        self.stops = grown

    def _grow_ladder(self, price: int) -> None:
        """Extend the ladder so that ``price`` (ticks) falls inside it."""
        base = int(self.meta[M_BASE_TICK])
        n = self.levels.shape[1]
        lo = min(base, price)
        hi = max(base + n, price + 1)
        new_n = max(2 * n, hi - lo)
        # Keep the old ladder in the middle of the new one where prices allow.
        new_base = max(1, min(lo, base - (new_n - n) // 2))
        if new_base + new_n < hi:
            new_n = hi - new_base
        grown = np.full((2, new_n, 3), NIL, dtype=np.int64)
        grown[:, :, L_QTY] = 0
        grown[:, base - new_base: base - new_base + n] = self.levels
        self.levels = grown
        self.meta[M_BASE_TICK] = new_base

    def grow(self, need: int, price: int = 0) -> None:
        """Grow the array named by a ``NEED_*`` status."""
        if need == NEED_ORDER_CAPACITY:
            self._grow_orders(2 * self.orders.shape[0])
        elif need == NEED_FILL_CAPACITY:
            self._grow_fills()
        elif need == NEED_LADDER:
            self._grow_ladder(price)
        elif need == NEED_STOP_CAPACITY:
            self._grow_stops()
        else:
            raise ValueError(f"need must be a NEED_* status, got {need!r}")

    # -- orders

    def submit(self, account: int, side: int, kind: int, qty: int, price: int = 0,
               trigger: int = TRIGGER_LAST, reduce_only: bool = False) -> OrderResult:
        """Enter an order; return its status, id, lots filled and the fills it made.

        A field of the wrong type or value is rejected with its status (see ``order_fields``)
        and changes nothing.
        """
        if (type(account) is not int or type(side) is not int or type(kind) is not int
                or type(qty) is not int or type(price) is not int or type(trigger) is not int):
            status, fields = order_fields(account, side, kind, qty, price, trigger)
            if status != Status.OK:
                return OrderResult(status, 0, 0, _NO_FILLS)
            account, side, kind, qty, price, trigger = fields
        start = int(self.meta[M_N_FILLS])
        try:
            while True:
                status, oid, filled = book_submit(
                    self.orders, self.levels, self.meta, self.owner, self.fills, self.stops,
                    account, side, kind, qty, price, trigger, bool(reduce_only), 0)
                if status >= 0:
                    break
                self.grow(status, price)
        except KERNEL_ARGUMENT_ERRORS:
            # Only an int beyond int64 gets here: numba cannot type it (state unchanged).
            status, _ = order_fields(account, side, kind, qty, price, trigger)
            if status == Status.OK:
                raise
            return OrderResult(status, 0, 0, _NO_FILLS)
        n = int(self.meta[M_N_FILLS])
        fills = self.fills[start:n].copy() if n > start else _NO_FILLS
        return OrderResult(Status(status), oid, filled, fills)

    def cancel(self, order_id: int) -> Status:
        """Cancel a resting order or stop by id; an id that is not an integer is unknown."""
        if type(order_id) is not int:
            order_id = as_int64(order_id)
            if order_id is None:
                return Status.UNKNOWN_ORDER
        try:
            return Status(book_cancel(self.orders, self.levels, self.meta, self.owner,
                                      order_id))
        except KERNEL_ARGUMENT_ERRORS:
            if as_int64(order_id) is None:  # an int beyond int64
                return Status.UNKNOWN_ORDER
            raise

    def drain_fills(self) -> np.ndarray:
        """Return the fills recorded since the last drain and clear the log."""
        n = int(self.meta[M_N_FILLS])
        out = self.fills[:n].copy()
        self.meta[M_N_FILLS] = 0
        return out

    # -- queries

    def best_bid(self) -> int | None:
        """Return the best bid in ticks, or None."""
        p = int(self.meta[M_BEST_BID])
        return None if p == NO_PRICE else p

    def best_ask(self) -> int | None:
        """Return the best ask in ticks, or None."""
        p = int(self.meta[M_BEST_ASK])
        return None if p == NO_PRICE else p

    def last_price(self) -> int | None:
        """Return the price of the latest trade in ticks, or None before the first."""
        p = int(self.meta[M_LAST_PRICE])
        return None if p == 0 else p

    def depth(self, side: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Return (prices, qtys) of the first ``n`` levels of ``side``, best first."""
        side = check_side(side)
        return depth(self.levels, self.meta, side, check_int("n", n, low=0))

    def resting_qty(self, side: int, price: int) -> int:
        """Return the lots resting on ``side`` at ``price``."""
        side = check_side(side)
        idx = check_int("price", price) - int(self.meta[M_BASE_TICK])
        if idx < 0 or idx >= self.levels.shape[1]:
            return 0
        return int(self.levels[_side_index(side), idx, L_QTY])

    def queue(self, side: int, price: int) -> list[tuple[int, int, int]]:
        """Return the orders at a level in queue order as (order_id, account, qty)."""
        side = check_side(side)
        idx = check_int("price", price) - int(self.meta[M_BASE_TICK])
        if idx < 0 or idx >= self.levels.shape[1]:
            return []
        out = []
        slot = int(self.levels[_side_index(side), idx, L_HEAD])
        while slot != NIL:
            row = self.orders[slot]
            out.append((int(row[O_ID]), int(row[O_ACCOUNT]), int(row[O_QTY])))
            slot = int(row[O_NEXT])
        return out

    def depth_to_price(self, taker_side: int, target: int) -> tuple[int, int]:
        """Return (lots, value in ticks x lots) a taker must take to move the best to ``target``."""
        taker_side = check_side(taker_side, "taker_side")
        return depth_to_price(self.levels, self.meta, taker_side, check_int("target", target))

    def impact_price(self, taker_side: int, value: float) -> float:
        """Return the average price (ticks) of taking ``value`` ticks x lots; NaN if too thin."""
        taker_side = check_side(taker_side, "taker_side")
        if not (is_number(value) and math.isfinite(value) and value > 0):
            raise ValueError(f"value must be a finite number > 0, got {value!r}")
        return impact_price(self.levels, self.meta, taker_side, float(value))

    def open_orders(self, account: int) -> list[int]:
        """Return the ids of the account's resting orders and stops, newest first."""
        account = check_int("account", account, low=0, high=self.owner.shape[0] - 1)
        out = []
        slot = int(self.owner[account, W_HEAD])
        while slot != NIL:
            out.append(int(self.orders[slot, O_ID]))
            slot = int(self.orders[slot, O_OWNER_NEXT])
        return out


# ---------------------------------------------------------------- argument checks

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_FRACTIONAL = object()  # a finite real number that is not whole

# What a kernel call raises when numba cannot type an argument: a Python int beyond int64 is
# the only one that gets past the type checks of the order path.
KERNEL_ARGUMENT_ERRORS = (NumbaError, OverflowError)


def is_number(value: object) -> bool:
    """Return True for a real number (Python or numpy int or float), False for a bool or
    anything else."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool)


def as_int64(value: object) -> int | None:
    """Return ``value`` as an int if it is an integer within int64, else None.

    For codes and ids (account, side, kind, trigger, order id): bools and floats, even 1.0,
    are refused, since a code computed in floating point is a caller's mistake. Numpy integers
    and ``IntEnum`` members are accepted.
    """
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        v = int(value)
        if _INT64_MIN <= v <= _INT64_MAX:
            return v
    return None


def _whole(value: object) -> int | object | None:
    """Return ``value`` as an int if it is a whole number within int64 (2.0 counts),
    ``_FRACTIONAL`` if it is a finite fractional number, None if it is not a finite number."""
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return None
        if not float(value).is_integer():
            return _FRACTIONAL
        value = int(value)
    return as_int64(value)


def order_fields(account: object, side: object, kind: object, qty: object, price: object,
                 trigger: object) -> tuple[Status, tuple[int, int, int, int, int, int] | None]:
    """Return (OK, the six fields as int64 ints), or (the reject status, None).

    The slow path of order entry, for fields that are not plain ints. Codes must be integers
    (``as_int64``): otherwise UNKNOWN_ACCOUNT, BAD_SIDE, BAD_KIND or BAD_TRIGGER (a trigger is
    checked whatever the kind). ``qty`` and ``price`` may be whole floats: a fractional qty is
    BAD_QTY, a fractional price OFF_GRID, and anything that is not a finite number in int64
    is BAD_QTY or BAD_PRICE. Values are range-checked later, by the kernels.
    """
    codes = (as_int64(account), as_int64(side), as_int64(kind))
    for value, reject in zip(codes, (Status.UNKNOWN_ACCOUNT, Status.BAD_SIDE, Status.BAD_KIND),
                             strict=True):
        if value is None:
            return reject, None
    lots = _whole(qty)
    if lots is None or lots is _FRACTIONAL:
        return Status.BAD_QTY, None
    ticks = _whole(price)
    if ticks is None:
        return Status.BAD_PRICE, None
    if ticks is _FRACTIONAL:
        return Status.OFF_GRID, None
    trig = as_int64(trigger)
    if trig is None:
        return Status.BAD_TRIGGER, None
    return Status.OK, (codes[0], codes[1], codes[2], lots, ticks, trig)


def check_int(name: str, value: object, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int; raise ValueError naming ``name`` unless it is an integer
    in [low, high] (bounds optional)."""
    v = as_int64(value)
    if v is None or (low is not None and v < low) or (high is not None and v > high):
        bounds = f" in [{low}, {high}]" if high is not None else (
            f" >= {low}" if low is not None else "")
        raise ValueError(f"{name} must be an integer{bounds}, got {value!r}")
    return v


def check_side(side: object, name: str = "side") -> int:
    """Return ``side`` as an int; raise ValueError naming ``name`` unless it is BUY or SELL."""
    v = as_int64(side)
    if v != BUY and v != SELL:
        raise ValueError(f"{name} must be +1 (buy) or -1 (sell), got {side!r}")
    return v


__all__ = ["FILL_DTYPE", "FLAG_STOP", "OrderBook", "OrderResult", "IOC", "order_fields",
           "as_int64", "check_int", "check_side", "is_number", "KERNEL_ARGUMENT_ERRORS"]
