"""Margin accounts as arrays indexed by account id, and the kernels that settle fills on them.

One-way mode, one perpetual contract. Money is in the quote currency (USD), positions in
integer lots, prices in USD except where a name says ``_ticks``.

``acct_f[a, A_*]`` (float64) and ``acct_i[a, I_*]`` (int64) hold the accounts; ``ex_f[X_*]`` and
``ex_i[XI_*]`` the exchange-wide figures (contract size, fees, insurance fund, open interest).

The wallet balance includes the margin that backs the position (``A_POS_MARGIN``); what is
free to back new orders is ``wallet - position margin - open-order margin``. In isolated mode the
position margin is all the position can lose; in cross mode the whole wallet backs it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.exchange.codes import BUY, ISOLATED_MARGIN, OK, REJECT_INSUFFICIENT_MARGIN
from sim.exchange.layouts import (
    A_ENTRY,
    A_FEES,
    A_LEVERAGE,
    A_LIQ_PRICE,
    A_POS_MARGIN,
    A_REALIZED,
    A_WALLET,
    I_DIRTY_NEXT,
    I_MODE,
    I_POSITION,
    N_ACCT_F,
    N_ACCT_I,
    NOT_DIRTY,
    W_BUY_LOTS,
    W_BUY_VALUE,
    W_SELL_LOTS,
    W_SELL_VALUE,
    X_FEES_COLLECTED,
    X_LOT_SIZE,
    X_MARK,
    X_TICK_SIZE,
    XI_DIRTY_HEAD,
    XI_LONG_OI,
    XI_N_DIRTY,
    XI_N_POSITIONS,
    XI_SHORT_OI,
)


@njit(cache=True, inline="always")
def mark_dirty(acct_i, ex_i, account):
    """Queue ``account`` for a refresh of its liquidation price."""
    if acct_i[account, I_DIRTY_NEXT] == NOT_DIRTY:
        acct_i[account, I_DIRTY_NEXT] = ex_i[XI_DIRTY_HEAD]
        ex_i[XI_DIRTY_HEAD] = account
        ex_i[XI_N_DIRTY] += 1


@njit(cache=True, inline="always")
def _set_position(acct_i, ex_i, account, new_position):
    old = acct_i[account, I_POSITION]
    ex_i[XI_LONG_OI] += max(new_position, 0) - max(old, 0)
    ex_i[XI_SHORT_OI] += max(-new_position, 0) - max(-old, 0)
    ex_i[XI_N_POSITIONS] += (new_position != 0) - (old != 0)
    acct_i[account, I_POSITION] = new_position


@njit(cache=True, inline="always")
def trade(acct_f, acct_i, ex_f, ex_i, account, delta_lots, price, fee_rate):
    """Settle a trade of ``delta_lots`` (signed) at ``price`` (USD) on an account.

    Entry price is the size-weighted average on increase, unchanged on reduce and reset to the
    trade price on a flip (Binance USDⓈ-M Futures, one-way mode). Closing realizes
    ``closed x (price - entry) x sign(position)`` and releases the position margin pro rata;
    opening adds ``notional / leverage`` to it. The fee is ``notional x fee_rate``.
    """
    lot = ex_f[X_LOT_SIZE]
    qty = abs(delta_lots)
    notional = qty * lot * price
    fee = notional * fee_rate
    acct_f[account, A_WALLET] -= fee
    acct_f[account, A_FEES] += fee
    ex_f[X_FEES_COLLECTED] += fee
    old = acct_i[account, I_POSITION]
    leverage = acct_f[account, A_LEVERAGE]
    if old == 0 or (old > 0) == (delta_lots > 0):
        held = abs(old)
        acct_f[account, A_ENTRY] = (held * acct_f[account, A_ENTRY] + qty * price) / (held + qty)
        acct_f[account, A_POS_MARGIN] += notional / leverage
    else:
        held = abs(old)
        closed = min(qty, held)
        direction = 1.0 if old > 0 else -1.0
        pnl = closed * lot * (price - acct_f[account, A_ENTRY]) * direction
        acct_f[account, A_WALLET] += pnl
        acct_f[account, A_REALIZED] += pnl
        if qty >= held:
            opened = qty - held
            acct_f[account, A_ENTRY] = price if opened > 0 else 0.0
            acct_f[account, A_POS_MARGIN] = opened * lot * price / leverage
        else:
            acct_f[account, A_POS_MARGIN] *= (held - closed) / held
    _set_position(acct_i, ex_i, account, old + delta_lots)
    mark_dirty(acct_i, ex_i, account)


@njit(cache=True)
def close_at_bankruptcy(acct_f, acct_i, ex_i, account):
    """Close a liquidated position: the account loses its whole position margin.

    Return the margin taken. Trading at the bankruptcy price realizes exactly ``-margin``; the
    difference between that and the actual fills belongs to the insurance fund.
    """
    margin = position_margin(acct_f, acct_i, account)
    acct_f[account, A_WALLET] -= margin
    acct_f[account, A_REALIZED] -= margin
    acct_f[account, A_POS_MARGIN] = 0.0
    acct_f[account, A_ENTRY] = 0.0
    _set_position(acct_i, ex_i, account, 0)
    mark_dirty(acct_i, ex_i, account)
    return margin


@njit(cache=True, inline="always")
def position_margin(acct_f, acct_i, account):
    """Return the collateral behind the position: isolated margin, or the wallet in cross mode."""
    if acct_i[account, I_MODE] == ISOLATED_MARGIN:
        return acct_f[account, A_POS_MARGIN]
    return acct_f[account, A_WALLET]


@njit(cache=True, inline="always")
def unrealized_pnl(acct_f, acct_i, ex_f, account, price):
    """Return the position's unrealized PnL at ``price`` (USD)."""
    pos = acct_i[account, I_POSITION]
    if pos == 0:
        return 0.0
    return pos * ex_f[X_LOT_SIZE] * (price - acct_f[account, A_ENTRY])


@njit(cache=True, inline="always")
def _order_margin(position, buy_lots, buy_value, sell_lots, sell_value, price_to_usd,
                  leverage):
    """Return the margin that open orders hold: the larger of the two sides' opening parts.

    Only the part of a side's orders that would open or grow a position needs margin; orders
    that would reduce the position are free. In one-way mode the two sides cannot both become
    positions, so the larger side sets the requirement.
    """
    buy_opening = buy_lots - max(-position, 0)
    sell_opening = sell_lots - max(position, 0)
    need_buy = 0.0
    need_sell = 0.0
    if buy_opening > 0:
        need_buy = buy_value * (buy_opening / buy_lots) * price_to_usd / leverage
    if sell_opening > 0:
        need_sell = sell_value * (sell_opening / sell_lots) * price_to_usd / leverage
    return max(need_buy, need_sell)


@njit(cache=True, inline="always")
def check_initial_margin(acct_f, acct_i, ex_f, owner, account, side, qty, price_ticks):
    """Return OK if the account can afford ``qty`` lots at ``price_ticks``, else a reject code.

    Available balance = wallet - position margin - open-order margin (+ unrealized loss in cross
    mode); the order may add to open-order margin what that balance covers.
    """
    position = acct_i[account, I_POSITION]
    leverage = acct_f[account, A_LEVERAGE]
    price_to_usd = ex_f[X_TICK_SIZE] * ex_f[X_LOT_SIZE]
    buy_lots = owner[account, W_BUY_LOTS]
    buy_value = owner[account, W_BUY_VALUE]
    sell_lots = owner[account, W_SELL_LOTS]
    sell_value = owner[account, W_SELL_VALUE]
    before = _order_margin(position, buy_lots, buy_value, sell_lots, sell_value,
                           price_to_usd, leverage)
    if side == BUY:
        buy_lots += qty
        buy_value += qty * price_ticks
    else:
        sell_lots += qty
        sell_value += qty * price_ticks
    after = _order_margin(position, buy_lots, buy_value, sell_lots, sell_value,
                          price_to_usd, leverage)
    if after <= before:
        return OK
    available = acct_f[account, A_WALLET] - acct_f[account, A_POS_MARGIN] - before
    if acct_i[account, I_MODE] != ISOLATED_MARGIN:
        available += min(0.0, unrealized_pnl(acct_f, acct_i, ex_f, account, ex_f[X_MARK]))
    if after - before > available * (1.0 + 1e-12):
        return REJECT_INSUFFICIENT_MARGIN
    return OK


def new_account_arrays(capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """Return empty (acct_f, acct_i) arrays for ``capacity`` accounts."""
    acct_f = np.zeros((capacity, N_ACCT_F), dtype=np.float64)
    acct_f[:, A_LIQ_PRICE] = np.nan
    acct_f[:, A_LEVERAGE] = 1.0
    acct_i = np.zeros((capacity, N_ACCT_I), dtype=np.int64)
    acct_i[:, I_DIRTY_NEXT] = NOT_DIRTY
    return acct_f, acct_i
