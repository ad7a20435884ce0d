"""Funding: the premium index sampled every step, its weighted average, and settlement.

Binance USDⓈ-M Futures, 'Introduction to Binance Futures Funding Rates': the premium index
compares the impact bid and ask prices (the average fill of a market order of the impact
margin notional) with the price index; over a funding interval its samples are averaged with
weights 1, 2, ..., n, so later samples count more; at each funding time every position pays
``size x mark price x rate``, longs to shorts when the rate is positive. For an isolated
position the payment comes out of (or goes into) its margin, which moves its liquidation price.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.exchange.book import impact_price
from sim.exchange.codes import BUY, ISOLATED_MARGIN, SELL
from sim.exchange.layouts import (
    A_FUNDING,
    A_POS_MARGIN,
    A_WALLET,
    I_MODE,
    I_POSITION,
    X_FUNDING_RATE,
    X_IMPACT_NOTIONAL,
    X_INDEX,
    X_LOT_SIZE,
    X_MARK,
    X_PREMIUM,
    X_PREMIUM_SAMPLES,
    X_PREMIUM_WEIGHT,
    X_PREMIUM_WSUM,
    X_TICK_SIZE,
    XI_N_ACCOUNTS,
)
from sim.exchange.perp import premium_index_nb


@njit(cache=True)
def sample_premium(levels, meta, ex_f):
    """Return the premium index now and add it to the interval's weighted average.

    A side too thin to absorb the impact notional contributes nothing (its impact price is
    taken to be the index).
    """
    index = ex_f[X_INDEX]
    tick = ex_f[X_TICK_SIZE]
    value_ticks_lots = ex_f[X_IMPACT_NOTIONAL] / (tick * ex_f[X_LOT_SIZE])
    impact_bid = impact_price(levels, meta, SELL, value_ticks_lots) * tick
    impact_ask = impact_price(levels, meta, BUY, value_ticks_lots) * tick
    if np.isnan(impact_bid):
        impact_bid = index
    if np.isnan(impact_ask):
        impact_ask = index
    premium = premium_index_nb(impact_bid, impact_ask, index)
    ex_f[X_PREMIUM] = premium
    weight = ex_f[X_PREMIUM_SAMPLES] + 1.0
    ex_f[X_PREMIUM_SAMPLES] = weight
    ex_f[X_PREMIUM_WSUM] += weight * premium
    ex_f[X_PREMIUM_WEIGHT] += weight
    return premium


@njit(cache=True)
def average_premium(ex_f):
    """Return the weighted average premium of the interval so far (0 before any sample)."""
    if ex_f[X_PREMIUM_WEIGHT] == 0.0:
        return 0.0
    return ex_f[X_PREMIUM_WSUM] / ex_f[X_PREMIUM_WEIGHT]


@njit(cache=True)
def settle_funding(acct_f, acct_i, ex_f, ex_i, rate):
    """Charge every position ``size x mark x rate``; return what longs paid (USD).

    Zero-sum: long and short open interest are equal, so what longs pay shorts receive. The
    premium average restarts for the next interval.
    """
    lot = ex_f[X_LOT_SIZE]
    mark = ex_f[X_MARK]
    paid_by_longs = 0.0
    for a in range(ex_i[XI_N_ACCOUNTS]):
        position = acct_i[a, I_POSITION]
        if position == 0:
            continue
        payment = position * lot * mark * rate
        acct_f[a, A_WALLET] -= payment
        acct_f[a, A_FUNDING] += payment
        if acct_i[a, I_MODE] == ISOLATED_MARGIN:
            acct_f[a, A_POS_MARGIN] -= payment
        if position > 0:
            paid_by_longs += payment
    ex_f[X_FUNDING_RATE] = rate
    ex_f[X_PREMIUM_SAMPLES] = 0.0
    ex_f[X_PREMIUM_WSUM] = 0.0
    ex_f[X_PREMIUM_WEIGHT] = 0.0
    return paid_by_longs
