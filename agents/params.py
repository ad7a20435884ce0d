"""The parameters of every agent type, with their defaults and units.

One typed, frozen model per agent type. The scenario schema embeds these models, so a YAML
file and a Python caller set the same names; unknown names are errors (``extra="forbid"``).
Money is in USD, times in seconds, spreads and thresholds in basis points (1 bp = 0.01 %).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# The crowd's default mix is the one the public estimate assumes: one table, in sim.
from sim.heatmap_estimate import DEFAULT_LEVERAGE_MIX


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_weights(weights: dict, what: str) -> dict:
    """Return ``weights`` if every weight is >= 0 and they sum to 1 (to 1e-6)."""
    if not weights:
        raise ValueError(f"{what} must not be empty")
    if any(w < 0 or not math.isfinite(w) for w in weights.values()):
        raise ValueError(f"{what} weights must be finite and >= 0")
    total = sum(weights.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"{what} weights must sum to 1, they sum to {total:g}")
    return weights


class ExcitationParams(_Params):
    """Self-exciting arrivals (``agents.excitation``): the rate rises after the crowd's own
    events, large perp moves and liquidations, and decays back with ``decay_s``."""

    branching: float = Field(
        0.0, ge=0, lt=1, description="further events each own event sets off on average (the "
        "Hawkes branching ratio; 0: no self-excitation)")
    decay_s: float = Field(600.0, gt=0, le=86_400, description="time constant of the decay")
    move_threshold_bps: float = Field(
        3.0, ge=0, description="a perp move over one step larger than this excites the crowd")
    move_boost: float = Field(
        0.0, ge=0, description="rate added per bp of move past the threshold, in base rates")
    liquidation_boost: float = Field(
        0.0, ge=0, description="rate added per million USD liquidated, in base rates")
    max_multiple: float = Field(
        20.0, ge=1, le=1000, description="the rate never exceeds this multiple of the base rate")


class MarketMakerParams(_Params):
    """Quoting market makers (Avellaneda-Stoikov style inventory skew)."""

    count: int = Field(4, ge=0, le=100, description="number of makers")
    wallet: float = Field(5_000_000.0, gt=0, le=1e12, description="USD per maker")
    leverage: float = Field(10.0, ge=1, description="account leverage")
    levels: int = Field(10, ge=1, le=50, description="quote levels per side")
    level_notional: float = Field(200_000.0, gt=0, le=1e10, description="USD quoted per level")
    half_spread_bps: float = Field(1.0, gt=0, le=1000, description="base half spread")
    level_spacing_bps: float = Field(1.0, gt=0, le=1000, description="gap between levels")
    index_weight: float = Field(
        0.8, ge=0, le=1, description="the fair value is pulled toward w*anchor + (1-w)*mid")
    anchor: Literal["index", "perp", "fundamental", "none"] = Field(
        "index", description="the anchor: the index (perp makers hedge on spot), the "
        "perpetual's mid (spot makers: the perpetual leads price discovery), the fundamental "
        "value itself (spot makers of the pinned market: no price formation), or none (the "
        "fair value moves by flow only)")
    anchor_half_life_s: float = Field(
        0.0, ge=0, le=30 * 86_400, description="half-life of the pull toward the anchor target "
        "(0: the fair value is the target at every step)")
    impact_bps_per_musd: float = Field(
        0.0, ge=0, le=10_000, description="bp the fair value moves per million USD of net "
        "taker flow, for small flow at reference volatility and depth (Kyle's lambda; 0: no "
        "learning)")
    cross_venue_weight: float = Field(
        0.0, ge=0, le=10, description="weight of the other venue's taker flow in the learning")
    flow_memory_s: float = Field(
        300.0, gt=0, le=86_400, description="half-life of the remembered flow through which "
        "impact is concave")
    concavity_notional: float = Field(
        2_000_000.0, gt=0, le=1e12, description="remembered flow (USD) beyond which impact "
        "grows as its square root")
    impact_max_vol_multiple: float = Field(
        3.0, ge=1, le=100, description="impact grows with realized vol / reference vol up to "
        "this multiple")
    impact_max_depth_multiple: float = Field(
        4.0, ge=1, le=100, description="impact grows as the visible depth thins, up to this "
        "multiple (and shrinks as it deepens, down to its inverse)")
    depth_band_bps: float = Field(
        10.0, gt=0, le=1000, description="band around the mid whose resting depth scales the "
        "impact")
    reference_depth_notional: float = Field(
        5_000_000.0, gt=0, le=1e12, description="visible depth (both sides, within the band) at "
        "which the impact is the base impact; thinner books move more (4x at most)")
    max_skew_bps: float = Field(
        10_000.0, gt=0, le=10_000, description="the reservation price's shift against "
        "inventory is capped at this many bp of the fair value")
    inventory_hard_limit: float = Field(
        1.0, ge=1, le=10, description="multiple of max_inventory_notional at which the side "
        "that adds to the inventory is withdrawn; above 1 the maker leans and widens past its "
        "limit until then")
    inventory_widen: float = Field(
        1.0, ge=0, le=100, description="past the inventory limit the adding side's half spread "
        "grows by this x (|q| - 1)")
    inventory_aversion: float = Field(
        3.0, ge=0, description="reservation-price skew, in half spreads per max inventory")
    max_inventory_notional: float = Field(
        8_000_000.0, gt=0, description="inventory at which the maker quotes only to reduce")
    vol_window_s: float = Field(60.0, gt=0, description="window of realized volatility")
    vol_spread_mult: float = Field(
        2.0, ge=0, description="spread widens by this x (realized vol / reference vol)")
    reference_vol_bps: float = Field(2.0, gt=0, description="per-second vol at base spread")
    pull_vol_bps: float = Field(
        30.0, gt=0, description="per-second realized vol above which quotes are pulled")
    requote_s: float = Field(1.0, gt=0, description="requote cadence")
    reaction_ms: float = Field(
        100.0, gt=0, le=60_000, description="in a cascade run in micro-time "
        "(exchange.cascade_pass_ms), how long after its last requote the maker requotes again "
        "between trigger passes")
    take_edge_bps: float = Field(
        20.0, ge=0, description="a resting order this far through the fair price is taken "
        "with an IOC (0: never take)")
    max_mid_spread_bps: float = Field(
        20.0, gt=0, description="a book whose spread is wider than this has no usable mid: "
        "the fair price falls back to the anchor")
    quote_hysteresis_steps: float = Field(
        0.2, ge=0, le=1, description="grid steps past the rounding point before the inner "
        "quote moves, so a fair price hovering at a boundary does not flip the ladder")
    size_tolerance: float = Field(
        0.25, ge=0, lt=1, description="share of its level size a partly filled quote may lose "
        "before it is replaced")
    grid_rebase_fraction: float = Field(
        0.10, gt=0, le=1, description="price move (a fraction) after which the grid step is "
        "re-derived from the price")


class LatentLiquidityParams(_Params):
    """Latent liquidity: resting depth that grows with distance from a slow reference price.

    The cumulative depth within ``x`` bp of the centre follows ``D(x) = depth_notional *
    (x / max_offset_bps) ** beta`` at every level's offset, with ``beta = ln(near_far_ratio) /
    ln(10 / 100)`` so that ``D(10 bp) / D(100 bp) = near_far_ratio``.
    """

    count: int = Field(0, ge=0, le=10, description="number of latent-liquidity providers")
    wallet: float = Field(20_000_000.0, gt=0, le=1e12, description="USD per provider")
    leverage: float = Field(10.0, ge=1, description="account leverage")
    depth_notional: float = Field(
        20_000_000.0, gt=0, le=1e11, description="USD resting within max_offset_bps, per side")
    min_offset_bps: float = Field(2.0, gt=0, le=5000, description="offset of the nearest level")
    max_offset_bps: float = Field(300.0, gt=0, le=5000, description="offset of the farthest level")
    levels: int = Field(16, ge=2, le=100, description="levels per side, spaced geometrically "
                        "from min_offset_bps to max_offset_bps")
    near_far_ratio: float = Field(
        0.2, gt=0, lt=1, description="depth within 10 bp over depth within 100 bp (Binance "
        "BTC spot: 3.5 M / 16.5 M USD, about 0.2)")
    reference_half_life_s: float = Field(
        300.0, gt=0, le=86_400, description="half-life of the centre's moving average of the mid")
    refill_s: float = Field(
        60.0, gt=0, le=86_400, description="refill timescale: each step restores a share "
        "step_s / refill_s of a level's missing lots")
    hysteresis_bps: float = Field(
        2.0, ge=0, le=1000, description="a level is moved only when its target price is this "
        "far from where it rests")
    stress_window_s: float = Field(60.0, gt=0, le=86_400, description="window of realized vol")
    stress_vol_bps: float = Field(
        60.0, gt=0, description="realized vol per sqrt(minute) above which depth is pulled")
    stress_pullback: float = Field(
        0.5, ge=0, le=1, description="share of the depth pulled in stress, nearest levels first")
    max_orders_per_level: int = Field(
        8, ge=1, le=100, description="refill orders a level may hold before it is merged into one")
    inventory_skew_bps_per_musd: float = Field(
        0.0, ge=0, le=1000, description="the ladder's centre moves this many bp per million "
        "USD held, against the position (0: a sink without limit)")

    @model_validator(mode="after")
    def _offsets_ordered(self) -> LatentLiquidityParams:
        if self.min_offset_bps >= self.max_offset_bps:
            raise ValueError("min_offset_bps must be below max_offset_bps")
        return self


class ArbitrageurParams(_Params):
    """Basis traders between the perpetual and the index (spot)."""

    count: int = Field(2, ge=0, le=100)
    wallet: float = Field(2_000_000.0, gt=0, le=1e12, description="USD per venue")
    leverage: float = Field(5.0, ge=1)
    threshold_bps: float = Field(5.0, gt=0, description="premium that opens a trade")
    exit_bps: float = Field(1.0, ge=0, description="premium at which the trade is closed")
    clip_notional: float = Field(100_000.0, gt=0, description="USD per trade")
    max_position_notional: float = Field(
        8_000_000.0, gt=0, description="capital limit: funding can run away beyond it")
    interval_s: float = Field(1.0, gt=0, description="how often it looks")
    hedge_slippage_bps: float = Field(
        50.0, ge=0, le=10_000, description="the spot hedge takes liquidity at most this far "
        "from the spot mid (protects against a gap)")


class CarryParams(_Params):
    """Carry traders (``agents.carry``): slow, capital-limited basis traders who sell the
    perpetual against spot at a premium (buy it at a discount) and hold the hedged pair."""

    count: int = Field(0, ge=0, le=100_000, description="number of traders, each with a perp "
                       "and a spot account (0: none; needs index.model: spot)")
    wallet: float = Field(1_000_000.0, gt=0, le=1e12, description="USD per trader on each venue")
    leverage: float = Field(3.0, ge=1, description="account leverage on each venue (the spot "
                            "short of the mirror trade is held on margin)")
    rate_per_s: float = Field(
        0.05, ge=0, le=1000, description="decisions per second, all traders together (0.05: "
        "one every 20 s)")
    entry_bps: float = Field(
        5.0, gt=0, le=10_000, description="premium of the perp mid over the index beyond which "
        "a clip is opened (the mirror trade below minus this)")
    full_bps: float | None = Field(
        None, gt=0, le=10_000, description="premium at which a trader commits its whole "
        "capital: between entry_bps and this its position limit grows linearly, so the crowd "
        "asks more premium the more it holds (None: the whole capital from entry_bps)")
    exit_bps: float = Field(
        1.0, ge=0, le=10_000, description="premium within which a clip of a held position is "
        "closed")
    clip_notional: float = Field(100_000.0, gt=0, le=1e12, description="USD per decision "
                                 "(at the index), each leg")
    max_position_notional: float = Field(
        2_000_000.0, gt=0, le=1e12, description="capital limit per trader (USD at the index), "
        "each leg")
    slippage_bps: float = Field(
        2.0, ge=0, le=10_000, description="every order is an IOC at most this far through the "
        "touch of its book")

    @model_validator(mode="after")
    def _exit_inside_entry(self) -> CarryParams:
        if self.exit_bps >= self.entry_bps:
            raise ValueError("exit_bps must be below entry_bps")
        if self.full_bps is not None and self.full_bps < self.entry_bps:
            raise ValueError("full_bps must be at or above entry_bps")
        return self


class VenueArbitrageParams(_Params):
    """Arbitrageurs between the spot venues of the index basket (``agents.venue_arbitrage``)."""

    count: int = Field(1, ge=0, le=100, description="number of arbitrageurs (acting only "
                       "when the basket has extra venues)")
    wallet: float = Field(2_000_000.0, gt=0, le=1e12, description="USD per venue")
    leverage: float = Field(5.0, ge=1, description="account leverage (a short on a spot "
                            "venue is held on margin)")
    threshold_bps: float = Field(
        3.0, ge=0, le=10_000, description="a venue's best bid must exceed another's best ask "
        "by this much beyond both taker fees")
    clip_notional: float = Field(100_000.0, gt=0, le=1e12, description="most USD per trade")
    max_inventory_notional: float = Field(
        2_000_000.0, gt=0, le=1e12, description="most USD held on any one venue, long or short")


class NoiseParams(_Params):
    """Small random market and limit flow."""

    count: int = Field(20, ge=0, le=100_000)
    wallet: float = Field(200_000.0, gt=0, le=1e12)
    leverage: float = Field(5.0, ge=1)
    rate_per_s: float = Field(0.5, ge=0, le=1000, description="orders per second, all agents")
    market_share: float = Field(0.5, ge=0, le=1, description="share of market orders")
    size_notional: float = Field(5_000.0, gt=0, description="median USD per order")
    size_sigma: float = Field(1.0, ge=0, le=5, description="lognormal sigma of size")
    limit_offset_bps: float = Field(10.0, ge=0, description="max distance of limit orders")
    max_position_notional: float = Field(100_000.0, gt=0)
    max_resting_orders: int = Field(
        64, ge=0, le=1_000_000, description="resting limit orders kept; beyond, the oldest "
        "are cancelled")
    order_ttl_s: float = Field(
        120.0, gt=0, description="age at which a resting limit order is cancelled, so the book "
        "does not fill with stale orders")
    excitation: ExcitationParams = Field(default_factory=ExcitationParams)


class ValueParams(_Params):
    """Traders who buy below and sell above the fundamental value, with noisy estimates."""

    count: int = Field(10, ge=0, le=100_000)
    wallet: float = Field(1_000_000.0, gt=0, le=1e12)
    leverage: float = Field(3.0, ge=1)
    rate_per_s: float = Field(0.2, ge=0, le=1000, description="decisions per second, all")
    threshold_bps: float = Field(10.0, ge=0, description="mispricing that triggers a trade")
    estimate_noise_bps: float = Field(10.0, ge=0, description="std of each estimate's error")
    size_notional: float = Field(20_000.0, gt=0)
    max_position_notional: float = Field(2_000_000.0, gt=0)
    excitation: ExcitationParams = Field(default_factory=ExcitationParams)


class InformedParams(_Params):
    """Informed traders (``agents.informed``): each sees the fundamental value through a
    drifting error of its own and holds a position proportional to the mispricing it sees."""

    count: int = Field(0, ge=0, le=100_000)
    wallet: float = Field(2_000_000.0, gt=0, le=1e12, description="USD per trader")
    leverage: float = Field(5.0, ge=1)
    rate_per_s: float = Field(2.0, ge=0, le=1000, description="decisions per second, all")
    estimate_noise_bps: float = Field(
        15.0, ge=0, le=10_000, description="standard deviation of each trader's error")
    error_half_life_s: float = Field(
        3_600.0, gt=0, le=30 * 86_400, description="half-life of each trader's error")
    position_per_bp: float = Field(
        50_000.0, gt=0, le=1e12, description="target position (USD) per bp of mispricing seen")
    max_position_notional: float = Field(
        2_000_000.0, gt=0, le=1e12, description="capital limit per trader (USD)")
    clip_notional: float = Field(
        100_000.0, gt=0, le=1e12, description="most traded per decision (USD)")
    participation: float = Field(
        0.3, gt=0, le=1, description="the crowd trades at most this share of the venue's "
        "traded volume (a budget refilled by each step's volume)")
    participation_burst_notional: float = Field(
        1_000_000.0, gt=0, le=1e12, description="most of the participation budget kept "
        "unspent (USD): the largest burst the crowd may trade at once")
    excitation: ExcitationParams = Field(default_factory=ExcitationParams)


class RetailParams(_Params):
    """The leveraged crowd, kept as arrays (one account per trader, isolated margin)."""

    count: int = Field(10_000, ge=0, le=10_000_000)
    wallet: float = Field(5_000.0, gt=0, le=1e9, description="median USD per trader")
    wallet_sigma: float = Field(1.0, ge=0, le=5, description="lognormal sigma of wallets")
    arrival_rate_per_s: float = Field(0.5, ge=0, le=1000, description="entries per second")
    leverage_mix: dict[float, float] = Field(
        default_factory=lambda: dict(DEFAULT_LEVERAGE_MIX), description="leverage: weight")
    margin_fraction: float = Field(
        0.2, gt=0, le=1, description="median share of the wallet posted as margin")
    size_sigma: float = Field(1.0, ge=0, le=5, description="lognormal sigma of sizes")
    rule_mix: dict[Literal["momentum", "breakout", "contrarian", "round_number"], float] = (
        Field(default_factory=lambda: {"momentum": 0.35, "breakout": 0.2, "contrarian": 0.25,
                                       "round_number": 0.2}))
    long_bias: float = Field(
        0.5, ge=0, le=1, description="the crowd's lean: longs to shorts b : 1 - b (0.5 neutral)")
    lookback_s: float = Field(300.0, gt=0, description="window for momentum and swings")
    round_number_usd: float = Field(1_000.0, gt=0, description="grid of round numbers")
    stop_loss_prob: float = Field(
        0.5, ge=0, le=1, description="share of positions opened with a stop (40-60 % of "
        "traders use stops)")
    stop_rule_mix: dict[Literal["percent", "structure", "round_number"], float] = Field(
        default_factory=lambda: {"percent": 0.5, "structure": 0.3, "round_number": 0.2},
        description="each trader's habit of stop placement: a percent of the entry, beyond a "
        "swing point, or beyond a round number")
    stop_distance_pct: float = Field(
        0.015, gt=0, le=0.5, description="median distance of a percent stop from the entry "
        "(a fraction; the room a round-number stop wants too)")
    stop_distance_sigma: float = Field(
        0.6, ge=0, le=3, description="lognormal sigma of that distance")
    structure_max_lookback_s: float = Field(
        14_400.0, gt=0, le=7 * 86_400, description="a structure stop reads the swing low or "
        "high of a timeframe drawn log-uniformly from lookback_s to this")
    stop_offset_bps: float = Field(
        10.0, ge=0, le=1000, description="mean distance (exponential) beyond the swing point "
        "or round level at which a stop rests")
    take_profit_pct: float = Field(0.02, gt=0, le=10, description="take-profit distance")
    take_profit_rule_mix: dict[Literal["percent", "round_number", "risk_multiple"], float] = (
        Field(default_factory=lambda: {"percent": 1.0}, description="each trader's habit of "
              "take-profit placement: take_profit_pct from the entry, the first round level "
              "beyond it, or a multiple of the stop's distance (without a stop: percent)"))
    take_profit_risk_multiple: float = Field(
        2.0, gt=0, le=100, description="a risk-multiple target's distance over the stop's")
    hold_time_s: float = Field(21_600.0, gt=0, description="mean holding time")
    reentry_budget: int = Field(2, ge=0, description="re-entries allowed after liquidation")
    reentry_delay_s: float = Field(600.0, ge=0, description="mean wait before re-entering")
    round_near_fraction: float = Field(
        0.2, ge=0, le=0.5, description="'near' a round level: within this share of the "
        "round-number grid")
    history_sample_s: float = Field(
        1.0, gt=0, description="the chart the crowd reads: one price sample per this many "
        "seconds (at least one per step)")
    wallet_significant_digits: int = Field(
        2, ge=1, le=15, description="wallets are rounded to this many significant figures "
        "(deposits are round sums)")
    stop_trigger: Literal["last", "mark"] = Field(
        "last", description="the price the stop-losses watch (the venues' default: last)")
    excitation: ExcitationParams = Field(default_factory=ExcitationParams)
    funding_aversion: float = Field(
        0.0, ge=0, le=100, description="share of would-be longs who stay out per 0.01 % of "
        "funding that longs pay above the 0.01 % baseline, and of would-be shorts per 0.01 % "
        "that shorts pay (a negative rate); at most all of them")
    vol_elasticity: float = Field(
        0.0, ge=0, le=3, description="arrivals scale as (recent over slower realized "
        "volatility of the chart) to this power, within 1/5 to 5 times: traders come in when "
        "the market moves")
    vol_exit_elasticity: float = Field(
        0.0, ge=0, le=3, description="open positions close early at (recent over slower "
        "realized volatility) to this power, less 1, times the holding-time exit rate (the "
        "multiple at most 5): traders cut risk when the market is wild")
    vol_recent_s: float = Field(
        900.0, gt=0, le=86_400, description="window of the recent realized volatility")
    vol_slow_s: float = Field(
        14_400.0, gt=0, le=7 * 86_400, description="window of the slower realized volatility "
        "it is compared with")

    @field_validator("leverage_mix")
    @classmethod
    def _leverage_mix(cls, mix: dict[float, float]) -> dict[float, float]:
        if any(not (1 <= lev <= 125) for lev in mix):
            raise ValueError("leverage_mix leverages must be in [1, 125]")
        return _check_weights(mix, "leverage_mix")

    @field_validator("rule_mix")
    @classmethod
    def _rule_mix(cls, mix: dict) -> dict:
        return _check_weights(mix, "rule_mix")

    @field_validator("stop_rule_mix")
    @classmethod
    def _stop_rule_mix(cls, mix: dict) -> dict:
        return _check_weights(mix, "stop_rule_mix")

    @field_validator("take_profit_rule_mix")
    @classmethod
    def _take_profit_rule_mix(cls, mix: dict) -> dict:
        return _check_weights(mix, "take_profit_rule_mix")


class HolderParams(RetailParams):
    """Large, low-leverage position holders (funds, basis and swing-position traders): most of
    the open interest, 2-5x, holding for days, few stops.

    Defaults (count 0: none unless a scenario sets it): a median wallet of 250 k USD, half
    of it posted at 2-5x (about 400 k USD of notional each); a mean hold of 3 days and one
    entry every 6 min, so that about 720 (rate x hold) are in a position at any time, which
    1,000 holders allow; stops on one position in five, 8 % away; take-profits 15 % away.
    Many mid-sized holders rather than a few large ones: one holder's stop is one price, and
    no single price should hold a large share of the open interest."""

    count: int = Field(0, ge=0, le=10_000_000)
    wallet: float = Field(250_000.0, gt=0, le=1e12, description="median USD per holder")
    wallet_sigma: float = Field(0.6, ge=0, le=5)
    arrival_rate_per_s: float = Field(1.0 / 360.0, ge=0, le=1000)
    leverage_mix: dict[float, float] = Field(
        default_factory=lambda: {2.0: 0.4, 3.0: 0.35, 5.0: 0.25})
    margin_fraction: float = Field(0.5, gt=0, le=1)
    size_sigma: float = Field(0.5, ge=0, le=5)
    stop_loss_prob: float = Field(0.2, ge=0, le=1)
    stop_distance_pct: float = Field(0.08, gt=0, le=0.5)
    take_profit_pct: float = Field(0.15, gt=0, le=10)
    hold_time_s: float = Field(3 * 86_400.0, gt=0)
    reentry_budget: int = Field(0, ge=0)


class ScalperParams(RetailParams):
    """A small share of fast, highly levered traders: minutes in a position, tight stops.

    Defaults: 300 scalpers, a median wallet of 2 k USD, 10-100x, a mean hold of 10 minutes,
    one entry every 4 s (about 150 in a position), stops on 70 % of positions 0.4 % away and
    take-profits 0.6 % away."""

    count: int = Field(0, ge=0, le=10_000_000)
    wallet: float = Field(2_000.0, gt=0, le=1e9, description="median USD per scalper")
    arrival_rate_per_s: float = Field(0.25, ge=0, le=1000)
    leverage_mix: dict[float, float] = Field(
        default_factory=lambda: {10.0: 0.3, 20.0: 0.4, 50.0: 0.2, 100.0: 0.1})
    stop_loss_prob: float = Field(0.7, ge=0, le=1)
    stop_distance_pct: float = Field(0.004, gt=0, le=0.5)
    structure_max_lookback_s: float = Field(1_800.0, gt=0, le=7 * 86_400)
    take_profit_pct: float = Field(0.006, gt=0, le=10)
    hold_time_s: float = Field(600.0, gt=0)
    lookback_s: float = Field(120.0, gt=0)


class WhaleParams(_Params):
    """A manipulator: idle -> scout -> build -> push -> harvest -> cool-down (``agents.whale``).

    Sized by ratios to the market, so the same whale means the same thing in every scenario:
    its largest position is a share of the open interest, its push budget and clips are
    multiples of the depth within 1 % of the price, its passive build a share of the traded
    volume. By default it reads public information only (the public heatmap estimate, the
    books, the tape); ``heatmap: true`` reads the true map and every resting stop, an
    omniscient upper bound no real trader has.
    """

    count: int = Field(0, ge=0, le=10)
    wallet: float = Field(
        50_000_000.0, gt=0, le=1e12, description="USD on each venue it trades (the perp, and "
        "every spot venue when it pushes on the index)")
    leverage: float = Field(10.0, ge=1)
    heatmap: Literal["true", "estimated"] = Field(
        "estimated", description="estimated: the public heatmap estimate (what anyone can "
        "read); true: the true map and every resting stop, an omniscient upper bound")
    push_venue: Literal["perp", "index", "both"] = Field(
        "perp", description="where it pushes: the perpetual, the thinnest spot venue of the "
        "index, or half of every clip on each")
    active_from_s: float = Field(1_800.0, ge=0)
    active_to_s: float = Field(math.inf, gt=0)
    scout_interval_s: float = Field(60.0, gt=0, description="how often it rereads the map")
    max_distance_pct: float = Field(0.03, gt=0, le=0.5, description="farthest cluster it hunts")
    min_cluster_oi_share: float = Field(
        0.005, gt=0, le=1, description="smallest forced flow worth a hunt, as a share of the "
        "open interest")
    min_payoff_ratio: float = Field(
        1.0, ge=0, description="needed forced flow / estimated cost of the push")
    position_oi_share: float = Field(
        0.05, gt=0, le=1, description="largest position, as a share of the open interest "
        "(never beyond what its leverage's tier allows)")
    push_depth_multiple: float = Field(
        3.0, gt=0, le=1000, description="most it pushes, in multiples of the depth within 1 "
        "% of the price on the push's side of its venue(s)")
    push_clip_depth_share: float = Field(
        0.02, gt=0, le=100, description="one push order, as a share of that depth")
    push_interval_s: float = Field(2.0, gt=0)
    build_share: float = Field(
        0.5, ge=0, le=1, description="share of the largest position built passively before "
        "the push, whose market orders add to the same position")
    build_volume_share: float = Field(
        0.1, gt=0, le=1, description="the passive build fills at most this share of the "
        "perp's traded volume since the build began (a participation cap)")
    build_s: float = Field(900.0, gt=0, description="longest build phase")
    read_tape: bool = Field(
        True, description="price a push by the tape's impact of order flow as well as the "
        "visible depth (agents.whale_tape); false: the visible depth alone, a naive whale")
    impact_window_s: float = Field(
        3_600.0, ge=300, le=86_400, description="minutes of tape it reads for that impact")
    harvest_s: float = Field(600.0, gt=0, description="longest harvest phase")
    cooldown_s: float = Field(1_800.0, ge=0)
    bin_fraction: float = Field(
        0.0005, gt=0, le=0.05, description="bin width of the map reader, as a fraction "
        "of the mark price (a whole number of ticks, at least one)")
    dense_bin_ratio: float = Field(
        1.0, ge=0, description="a bin joins a cluster when its notional is at least this "
        "multiple of the mean bin of its side of the grid (and above zero)")
    harvest_levels: int = Field(
        4, ge=1, le=100, description="passive closing orders in the harvest ladder")
    harvest_spacing_bps: float = Field(
        5.0, gt=0, le=1000, description="gap between the harvest ladder's levels, in basis "
        "points of the touch")

    @model_validator(mode="after")
    def _window(self) -> WhaleParams:
        if self.active_to_s <= self.active_from_s:
            raise ValueError("active_to_s must be after active_from_s")
        return self
