"""The true liquidation heatmap: open notional binned by liquidation price.

For each price bin, the notional (USD, at entry price) of the open positions whose
liquidation price lies in the bin, split into longs and shorts. Positions whose liquidation
price falls outside the grid, or that cannot be liquidated (NaN), are left out.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.exchange.layouts import A_ENTRY, A_LIQ_PRICE, I_POSITION


def price_edges(center: float, range_pct: float, bin_usd: float) -> np.ndarray:
    """Return bin edges of width ``bin_usd`` covering ``center`` +/- ``range_pct``."""
    if not (np.isfinite(center) and center > 0):
        raise ValueError(f"center must be a finite number > 0, got {center!r}")
    if not (0 < range_pct < 1):
        raise ValueError(f"range_pct must be in (0, 1), got {range_pct!r}")
    if not (np.isfinite(bin_usd) and bin_usd > 0):
        raise ValueError(f"bin_usd must be a finite number > 0, got {bin_usd!r}")
    low = np.floor(center * (1 - range_pct) / bin_usd) * bin_usd
    high = np.ceil(center * (1 + range_pct) / bin_usd) * bin_usd
    return np.arange(low, high + 0.5 * bin_usd, bin_usd)


@njit(cache=True)
def bin_liquidation_notional(acct_f: np.ndarray, acct_i: np.ndarray, n_accounts: int,
                             lot_size: float, low: float, bin_usd: float,
                             long_out: np.ndarray, short_out: np.ndarray) -> None:
    """Add each open position's entry notional to the bin of its liquidation price."""
    n_bins = long_out.shape[0]
    for a in range(n_accounts):
        pos = acct_i[a, I_POSITION]
        if pos == 0:
            continue
        lp = acct_f[a, A_LIQ_PRICE]
        if not (lp > 0):
            continue
        b = int(np.floor((lp - low) / bin_usd))
        if b < 0 or b >= n_bins:
            continue
        notional = abs(pos) * lot_size * acct_f[a, A_ENTRY]
        if pos > 0:
            long_out[b] += notional
        else:
            short_out[b] += notional


def true_heatmap(exchange, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (long, short) liquidation notional per bin of ``edges`` for ``exchange`` now."""
    n_bins = len(edges) - 1
    long_out = np.zeros(n_bins)
    short_out = np.zeros(n_bins)
    bin_usd = float(edges[1] - edges[0])
    bin_liquidation_notional(exchange.acct_f, exchange.acct_i, exchange.n_accounts,
                             exchange.config.lot_size, float(edges[0]), bin_usd,
                             long_out, short_out)
    return long_out, short_out
