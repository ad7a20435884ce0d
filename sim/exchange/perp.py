"""Perpetual-contract rules: margin tiers, liquidation and bankruptcy prices, funding, mark price.

The public functions validate their arguments and then call the ``*_nb`` kernels, so every
formula has a single implementation that the simulator's numba hot path shares. The kernels
take the tier table as plain float64 arrays (see :func:`tier_arrays`), do no validation and
raise no exceptions; they also run unchanged with ``NUMBA_DISABLE_JIT=1``.

Conventions: ``side`` is +1 for a long and -1 for a short; ``qty`` is the position size in base
units (BTC) and is always > 0; prices and margins are in USD(T). Margin is isolated and the
account is in one-way mode.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit

__all__ = [
    "BTCUSDT_TIERS",
    "MarginTier",
    "bankruptcy_price",
    "bankruptcy_price_nb",
    "funding_rate",
    "funding_rate_nb",
    "liquidation_price",
    "liquidation_price_nb",
    "liquidation_prices_nb",
    "maintenance_margin",
    "maintenance_margin_nb",
    "max_position_notional",
    "mark_price",
    "mark_price_nb",
    "premium_index",
    "premium_index_nb",
    "tier_arrays",
    "tier_index",
    "tier_index_nb",
]


@dataclass(frozen=True, slots=True)
class MarginTier:
    """One row of a venue's leverage and margin table.

    Attributes:
        notional_floor: Lowest position notional (USD) that falls in this tier.
        max_leverage: Highest initial leverage allowed in this tier.
        maintenance_margin_rate: Fraction of notional required as maintenance margin.
        maintenance_amount: Amount (USD) subtracted from ``notional * rate`` so that the
            maintenance margin is continuous across tier floors (Binance's ``cum``).
    """

    notional_floor: float
    max_leverage: float
    maintenance_margin_rate: float
    maintenance_amount: float


# Binance USDⓈ-M Futures: 'Leverage and Margin of USDⓈ-M Futures', BTCUSDT bracket table.
# Each cum satisfies cum_i = cum_{i-1} + floor_i * (mmr_i - mmr_{i-1}); notional above the
# last floor stays in the last tier.
BTCUSDT_TIERS: tuple[MarginTier, ...] = (
    MarginTier(0.0, 125.0, 0.004, 0.0),
    MarginTier(50_000.0, 100.0, 0.005, 50.0),
    MarginTier(250_000.0, 50.0, 0.01, 1_300.0),
    MarginTier(1_000_000.0, 20.0, 0.025, 16_300.0),
    MarginTier(10_000_000.0, 10.0, 0.05, 266_300.0),
    MarginTier(20_000_000.0, 5.0, 0.10, 1_266_300.0),
    MarginTier(50_000_000.0, 4.0, 0.125, 2_516_300.0),
    MarginTier(100_000_000.0, 3.0, 0.15, 5_016_300.0),
    MarginTier(200_000_000.0, 2.0, 0.25, 25_016_300.0),
    MarginTier(300_000_000.0, 1.0, 0.50, 100_016_300.0),
)


# ---------------------------------------------------------------------------------------------
# Tier tables
# ---------------------------------------------------------------------------------------------


def _build_tier_arrays(
    tiers: Sequence[MarginTier],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if len(tiers) == 0:
        raise ValueError("tiers must be a non-empty sequence of MarginTier")
    floors = np.empty(len(tiers), dtype=np.float64)
    max_leverage = np.empty(len(tiers), dtype=np.float64)
    mmr = np.empty(len(tiers), dtype=np.float64)
    cum = np.empty(len(tiers), dtype=np.float64)
    for i, tier in enumerate(tiers):
        floor = float(tier.notional_floor)
        leverage = float(tier.max_leverage)
        rate = float(tier.maintenance_margin_rate)
        amount = float(tier.maintenance_amount)
        if i == 0 and floor != 0.0:
            raise ValueError(f"tiers[0].notional_floor must be 0, got {tier.notional_floor!r}")
        # `not (a > b)` rather than `a <= b` so that NaN floors are rejected too.
        if i > 0 and not (floor > floors[i - 1] and math.isfinite(floor)):
            raise ValueError(
                f"tiers notional floors must be finite and strictly increasing, got "
                f"tiers[{i}].notional_floor={tier.notional_floor!r} after {floors[i - 1]!r}"
            )
        if not 0.0 < rate < 1.0:
            raise ValueError(
                f"tiers[{i}].maintenance_margin_rate must be in (0, 1), "
                f"got {tier.maintenance_margin_rate!r}"
            )
        if not leverage >= 1.0:
            raise ValueError(f"tiers[{i}].max_leverage must be >= 1, got {tier.max_leverage!r}")
        if not math.isfinite(amount):
            raise ValueError(
                f"tiers[{i}].maintenance_amount must be finite, got {tier.maintenance_amount!r}"
            )
        floors[i] = floor
        max_leverage[i] = leverage
        mmr[i] = rate
        cum[i] = amount
    return floors, max_leverage, mmr, cum


def tier_arrays(
    tiers: Sequence[MarginTier] = BTCUSDT_TIERS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the tier table as float64 arrays ``(floors, max_leverage, mmr, cum)``.

    The arrays are fresh copies, so callers may keep or modify them; they are the form the
    ``*_nb`` kernels take.

    Args:
        tiers: Margin tiers ordered by notional floor; the first floor must be 0.

    Returns:
        Four 1-D float64 arrays of length ``len(tiers)``.

    Raises:
        ValueError: If ``tiers`` is empty, its first floor is not 0, its floors are not strictly
            increasing, a maintenance margin rate is outside (0, 1), or a max leverage is < 1.
    """
    floors, max_leverage, mmr, cum = _cached_arrays(tiers)
    return floors.copy(), max_leverage.copy(), mmr.copy(), cum.copy()


@lru_cache(maxsize=32)
def _cached_arrays_for(
    tiers: tuple[MarginTier, ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return _build_tier_arrays(tiers)


def _cached_arrays(
    tiers: Sequence[MarginTier],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # Validating and converting the table on every scalar call would dominate the cost of the
    # formulas; the cached arrays never leave this module, so nobody can mutate them.
    if tiers is BTCUSDT_TIERS:
        return _BTCUSDT_ARRAYS
    return _cached_arrays_for(tuple(tiers))


_BTCUSDT_ARRAYS = _build_tier_arrays(BTCUSDT_TIERS)


# ---------------------------------------------------------------------------------------------
# Kernels (single source of truth for every formula)
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def tier_index_nb(abs_notional, floors):
    """Return the index of the tier whose [floor, next floor) holds ``abs_notional``."""
    # Tables have about ten rows, so a backward scan is cheap and needs no special case for
    # notional above the last floor.
    for i in range(floors.shape[0] - 1, 0, -1):
        if abs_notional >= floors[i]:
            return i
    return 0


@njit(cache=True)
def maintenance_margin_nb(notional, floors, mmr, cum):
    """Return the maintenance margin (USD) for a position of ``notional`` USD.

    Kernel form of :func:`maintenance_margin`: Binance USDⓈ-M Futures, 'Leverage and Margin of
    USDⓈ-M Futures': maintenance margin = notional × MMR − maintenance amount, using the tier
    whose [floor, next floor) holds |notional|.
    """
    x = abs(notional)
    i = tier_index_nb(x, floors)
    return x * mmr[i] - cum[i]


# Relative slack, against the size of the liquidation formula's terms, for deciding that a
# candidate price only missed its tier through rounding.
_EDGE_RTOL = 1e-12


@njit(cache=True)
def _liquidation_price_in_tier_nb(side, qty, entry_price, wallet_balance, rate, amount):
    if side > 0:
        return (qty * entry_price - wallet_balance - amount) / (qty * (1.0 - rate))
    return (qty * entry_price + wallet_balance + amount) / (qty * (1.0 + rate))


@njit(cache=True)
def liquidation_price_nb(side, qty, entry_price, wallet_balance, floors, mmr, cum):
    """Return the isolated-margin liquidation price; 0.0 for a long that cannot be liquidated.

    Kernel form of :func:`liquidation_price` (Binance USDⓈ-M Futures: 'How to Calculate
    Liquidation Price of USDⓈ-M Contracts'). ``side`` is +1 (long) or -1 (short); no argument
    is validated.
    """
    n = floors.shape[0]
    lp = np.nan
    found = False
    for i in range(n):
        candidate = _liquidation_price_in_tier_nb(
            side, qty, entry_price, wallet_balance, mmr[i], cum[i]
        )
        notional = candidate * qty
        if notional >= floors[i] and (i == n - 1 or notional < floors[i + 1]):
            lp = candidate
            found = True
            break
    if not found:
        # When the exact solution sits on a tier floor, rounding can push both neighbouring
        # candidates a few ulps outside their own ranges. Re-checking with a tolerance far above
        # rounding error (but far below any real mismatch) recovers the right tier; falling
        # straight back to the entry tier would be materially wrong when it is not adjacent.
        scale = qty * entry_price + wallet_balance
        for i in range(n):
            candidate = _liquidation_price_in_tier_nb(
                side, qty, entry_price, wallet_balance, mmr[i], cum[i]
            )
            notional = candidate * qty
            tol = _EDGE_RTOL * (scale + abs(cum[i]))
            if notional >= floors[i] - tol and (i == n - 1 or notional < floors[i + 1] + tol):
                lp = candidate
                found = True
                break
    if not found:
        # Only an inconsistent table (maintenance margin discontinuous at a floor) gets here.
        j = tier_index_nb(abs(qty * entry_price), floors)
        lp = _liquidation_price_in_tier_nb(side, qty, entry_price, wallet_balance, mmr[j], cum[j])
    if side > 0 and lp <= 0.0:
        return 0.0
    return lp


@njit(cache=True)
def liquidation_prices_nb(sides, qtys, entry_prices, wallet_balances, floors, mmr, cum):
    """Return liquidation prices for arrays of positions; NaN where the position is flat.

    Vectorized :func:`liquidation_price_nb`. An entry is flat (NaN) when its qty is not > 0 or
    its side is 0, so position books can keep closed slots in place.
    """
    n = qtys.shape[0]
    out = np.empty(n, dtype=np.float64)
    for k in range(n):
        if not qtys[k] > 0.0 or sides[k] == 0:
            out[k] = np.nan
        else:
            out[k] = liquidation_price_nb(
                sides[k], qtys[k], entry_prices[k], wallet_balances[k], floors, mmr, cum
            )
    return out


@njit(cache=True)
def bankruptcy_price_nb(side, qty, entry_price, wallet_balance):
    """Return the price at which the position's margin balance is exactly zero.

    Kernel form of :func:`bankruptcy_price`; a long's price is floored at 0.0.
    """
    if side > 0:
        return max(entry_price - wallet_balance / qty, 0.0)
    return entry_price + wallet_balance / qty


@njit(cache=True)
def premium_index_nb(impact_bid, impact_ask, index):
    """Return the premium index of the impact prices over the price index.

    Kernel form of :func:`premium_index` (Binance: 'Introduction to Binance Futures Funding
    Rates').
    """
    return (max(0.0, impact_bid - index) - max(0.0, index - impact_ask)) / index


@njit(cache=True)
def funding_rate_nb(premium_avg, interest, clamp, cap):
    """Return the funding rate for an averaged premium index.

    Kernel form of :func:`funding_rate` (Binance: 'Introduction to Binance Futures Funding
    Rates').
    """
    diff = interest - premium_avg
    # Branching instead of premium + clip(diff) keeps the dead-zone result exactly equal to
    # `interest`; premium + (interest - premium) can be off by an ulp.
    if diff > clamp:
        rate = premium_avg + clamp
    elif diff < -clamp:
        rate = premium_avg - clamp
    else:
        rate = interest
    return min(max(rate, -cap), cap)


@njit(cache=True)
def mark_price_nb(index, last_funding_rate, time_to_funding_frac, ma_basis, last_price):
    """Return the mark price, the median of three price estimates.

    Kernel form of :func:`mark_price` (Binance: 'Mark Price and Price Index').
    """
    a = index * (1.0 + last_funding_rate * time_to_funding_frac)
    b = index + ma_basis
    c = last_price
    return max(min(a, b), min(max(a, b), c))


# ---------------------------------------------------------------------------------------------
# Validated public API
# ---------------------------------------------------------------------------------------------


def _positive(name: str, value: float) -> float:
    v = float(value)
    if not v > 0.0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if v == math.inf:
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def _finite(name: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def _side(side: int) -> int:
    if side != 1 and side != -1:
        raise ValueError(f"side must be +1 (long) or -1 (short), got {side!r}")
    return int(side)


def _wallet_balance(value: float) -> float:
    v = float(value)
    if not 0.0 <= v < math.inf:
        raise ValueError(f"wallet_balance must be finite and >= 0, got {value!r}")
    return v


def tier_index(notional: float, tiers: Sequence[MarginTier] = BTCUSDT_TIERS) -> int:
    """Return the index of the tier whose [floor, next floor) range holds |notional|.

    Binance USDⓈ-M Futures: 'Leverage and Margin of USDⓈ-M Futures' (brackets by position
    notional; notional above the last floor stays in the last bracket).

    Args:
        notional: Position notional in USD; its sign is ignored.
        tiers: Margin tier table.

    Returns:
        Zero-based tier index.

    Raises:
        ValueError: If ``notional`` is not finite or ``tiers`` is invalid.
    """
    x = _finite("notional", notional)
    floors = _cached_arrays(tiers)[0]
    return int(tier_index_nb(abs(x), floors))


def maintenance_margin(notional: float, tiers: Sequence[MarginTier] = BTCUSDT_TIERS) -> float:
    """Return the maintenance margin (USD) required for a position of ``notional`` USD.

    Binance USDⓈ-M Futures: 'Leverage and Margin of USDⓈ-M Futures': maintenance margin =
    |notional| × maintenance margin rate − maintenance amount, for the tier holding |notional|.

    Args:
        notional: Position notional in USD; its sign is ignored.
        tiers: Margin tier table.

    Returns:
        Maintenance margin in USD.

    Raises:
        ValueError: If ``notional`` is not finite or ``tiers`` is invalid.
    """
    x = _finite("notional", notional)
    floors, _, mmr, cum = _cached_arrays(tiers)
    return float(maintenance_margin_nb(x, floors, mmr, cum))


def liquidation_price(
    side: int,
    qty: float,
    entry_price: float,
    wallet_balance: float,
    tiers: Sequence[MarginTier] = BTCUSDT_TIERS,
) -> float:
    """Return the liquidation price of an isolated one-way position (0.0 if never liquidated).

    Binance USDⓈ-M Futures: 'How to Calculate Liquidation Price of USDⓈ-M Contracts', with
    isolated margin (no cross-position terms):

    * long:  ``LP = (Q·EP − WB − cum) / (Q·(1 − MMR))``
    * short: ``LP = (Q·EP + WB + cum) / (Q·(1 + MMR))``

    MMR and cum belong to the tier of the liquidation notional ``LP·Q``: tiers are tried in
    order and the first ``LP_i`` with ``floor_i <= LP_i·Q < floor_{i+1}`` wins (no upper bound
    for the last tier). When the exact solution lies on a tier floor and rounding leaves no tier
    strictly consistent, the check is repeated with a relative slack of 1e-12; if still no tier
    fits (only possible with a table whose maintenance margin jumps at a floor), the tier of the
    entry notional ``Q·EP`` is used. For a continuous table such as :data:`BTCUSDT_TIERS` the
    margin balance ``WB + side·Q·(LP − EP)`` at the returned price equals the maintenance
    margin of ``LP·Q``.

    Args:
        side: +1 for a long, -1 for a short.
        qty: Position size in base units (> 0).
        entry_price: Average entry price (> 0).
        wallet_balance: Isolated margin assigned to the position, USD (>= 0).
        tiers: Margin tier table.

    Returns:
        Liquidation price; 0.0 for a long whose formula gives a price <= 0 (margin covers the
        whole notional, so it cannot be liquidated).

    Raises:
        ValueError: If an argument is out of range; the message names the argument.
    """
    s = _side(side)
    q = _positive("qty", qty)
    ep = _positive("entry_price", entry_price)
    wb = _wallet_balance(wallet_balance)
    floors, _, mmr, cum = _cached_arrays(tiers)
    return float(liquidation_price_nb(s, q, ep, wb, floors, mmr, cum))


def bankruptcy_price(side: int, qty: float, entry_price: float, wallet_balance: float) -> float:
    """Return the bankruptcy price, where the position's margin balance is exactly zero.

    Binance Futures: 'Liquidation Protocols' / 'Insurance Fund' (a liquidated position is
    closed at its bankruptcy price, where the margin balance ``WB + side·Q·(BP − EP)`` is 0):
    long ``BP = EP − WB/Q``, short ``BP = EP + WB/Q``.

    Args:
        side: +1 for a long, -1 for a short.
        qty: Position size in base units (> 0).
        entry_price: Average entry price (> 0).
        wallet_balance: Isolated margin assigned to the position, USD (>= 0).

    Returns:
        Bankruptcy price; a long's is floored at 0.0 (margin >= notional never goes bankrupt).

    Raises:
        ValueError: If an argument is out of range; the message names the argument.
    """
    s = _side(side)
    q = _positive("qty", qty)
    ep = _positive("entry_price", entry_price)
    wb = _wallet_balance(wallet_balance)
    return float(bankruptcy_price_nb(s, q, ep, wb))


def premium_index(impact_bid: float, impact_ask: float, index: float) -> float:
    """Return the premium index of the impact bid/ask prices over the price index.

    Binance: 'Introduction to Binance Futures Funding Rates':
    ``P = (max(0, impact_bid − index) − max(0, index − impact_ask)) / index``.

    Args:
        impact_bid: Average fill price of a market sell of the impact margin notional (> 0).
        impact_ask: Average fill price of a market buy of the impact margin notional (> 0).
        index: Spot price index (> 0).

    Returns:
        Premium index as a fraction (positive when the perpetual trades above the index).

    Raises:
        ValueError: If a price is not finite and > 0; the message names it.
    """
    ib = _positive("impact_bid", impact_bid)
    ia = _positive("impact_ask", impact_ask)
    idx = _positive("index", index)
    return float(premium_index_nb(ib, ia, idx))


def funding_rate(
    premium_avg: float,
    interest: float = 0.0001,
    clamp: float = 0.0005,
    cap: float = 0.003,
) -> float:
    """Return the funding rate for one funding interval.

    Binance: 'Introduction to Binance Futures Funding Rates':
    ``F = P + clamp(I − P, −clamp, +clamp)``, then limited to ``±cap``. The defaults are
    Binance's 0.01% interest per 8 h, the ±0.05% dead zone, and a cap of 0.3% (0.75 × the
    BTCUSDT first-tier maintenance margin rate of 0.4%).

    Args:
        premium_avg: Time-weighted average premium index over the interval.
        interest: Interest rate per interval.
        clamp: Half-width of the dead zone around ``interest`` (>= 0).
        cap: Absolute limit on the funding rate (>= 0).

    Returns:
        Funding rate as a fraction of position notional; positive means longs pay shorts.

    Raises:
        ValueError: If an argument is not finite or ``clamp``/``cap`` is negative.
    """
    p = _finite("premium_avg", premium_avg)
    i = _finite("interest", interest)
    c = _finite("clamp", clamp)
    k = _finite("cap", cap)
    if c < 0.0:
        raise ValueError(f"clamp must be >= 0, got {clamp!r}")
    if k < 0.0:
        raise ValueError(f"cap must be >= 0, got {cap!r}")
    return float(funding_rate_nb(p, i, c, k))


def mark_price(
    index: float,
    last_funding_rate: float,
    time_to_funding_frac: float,
    ma_basis: float,
    last_price: float,
) -> float:
    """Return the mark price, the median of three price estimates.

    Binance: 'Mark Price and Price Index': mark = median(price 1, price 2, last price) with
    ``price 1 = index·(1 + last funding rate·time to next funding / funding interval)`` and
    ``price 2 = index + moving average of the basis``.

    Args:
        index: Spot price index (> 0).
        last_funding_rate: Most recent funding rate.
        time_to_funding_frac: Time until the next funding as a fraction of the interval, [0, 1].
        ma_basis: Moving average of (perpetual mid − index), USD.
        last_price: Last traded price of the perpetual (> 0).

    Returns:
        Mark price.

    Raises:
        ValueError: If an argument is out of range; the message names the argument.
    """
    idx = _positive("index", index)
    rate = _finite("last_funding_rate", last_funding_rate)
    frac = float(time_to_funding_frac)
    if not 0.0 <= frac <= 1.0:
        raise ValueError(f"time_to_funding_frac must be in [0, 1], got {time_to_funding_frac!r}")
    basis = _finite("ma_basis", ma_basis)
    last = _positive("last_price", last_price)
    return float(mark_price_nb(idx, rate, frac, basis, last))


def max_position_notional(leverage: float, tiers: Sequence[MarginTier] = BTCUSDT_TIERS) -> float:
    """Return the largest position notional (USD) an account at ``leverage`` may hold.

    Binance USDⓈ-M Futures, 'Leverage and Margin of USDⓈ-M Futures': each notional tier caps
    the leverage, so leverage L is allowed up to the top of the last tier whose maximum
    leverage is at least L (no cap past the last tier).
    """
    leverage = _positive("leverage", leverage)
    floors, max_leverage, _, _ = _cached_arrays(tuple(tiers))
    allowed = np.flatnonzero(max_leverage >= leverage)
    if len(allowed) == 0:
        raise ValueError(f"leverage must be <= {max_leverage.max():g} for these tiers, "
                         f"got {leverage!r}")
    last = int(allowed[-1])
    return float(floors[last + 1]) if last + 1 < len(floors) else math.inf
