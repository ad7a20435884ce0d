"""The scenario file: its strict schema, and the loader that turns YAML into a ``Scenario``.

A scenario is a YAML mapping; every key has a type, a range and a default, and an unknown key
is an error. ``load_scenario`` reads a bundled scenario by name (``whale_hunt``) or a file by
path, applies ``key.path=value`` overrides, validates, and raises ``ScenarioError`` with one
line per problem (file, key path, the value found, what was expected); it never lets a
traceback reach the user. A valid scenario is frozen, and ``Scenario.sha256()`` (of its
canonical JSON, defaults filled) is the run's identity.

An optional ``sweep:`` block (``SweepSpec``) describes the points and replicates that
``liqsim sweep`` runs; it is no part of the resolved scenario or its hash, so a single run
ignores it. ``load_sweep_points`` returns the scenario of every point, each one validated,
and names the point's index in every problem it finds.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import json
import math
import re
import reprlib
from collections.abc import Iterator, Mapping, Sequence
from decimal import ROUND_FLOOR, Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from agents.params import (
    ArbitrageurParams,
    CarryParams,
    HolderParams,
    InformedParams,
    LatentLiquidityParams,
    MarketMakerParams,
    NoiseParams,
    RetailParams,
    ScalperParams,
    ValueParams,
    VenueArbitrageParams,
    WhaleParams,
)
from sim.exchange import ExchangeConfig
from sim.exchange.codes import TRIGGER_LAST, TRIGGER_MARK
from sim.exchange.perp import BTCUSDT_TIERS, MarginTier, tier_arrays

__all__ = [
    "AgentsSpec",
    "BasketSpec",
    "ExchangeSpec",
    "IndexJump",
    "IndexSpec",
    "MakerWithdrawal",
    "OutputsSpec",
    "Scenario",
    "ScenarioError",
    "SpotSpec",
    "SweepRange",
    "SweepSpec",
    "TierRow",
    "VenueSpec",
    "WhaleActive",
    "bundled_scenarios",
    "load_scenario",
    "load_sweep_points",
]

MAX_DURATION_S = 30 * 86_400.0
MAX_STEPS = 100_000_000
MAX_HEATMAP_BINS = 100_000
# No price, notional, size or time in this domain comes near 1e15; anything larger is a typo
# or an overflow that would turn into inf or wrap around once it reaches numpy arrays.
MAX_MAGNITUDE = 1e15
MAX_FILE_BYTES = 1 << 20
MAX_EXTRA_VENUES = 16
NO_VALUE = object()  # a cross-field problem with no single value to show
TIER_PRESETS: dict[str, tuple[MarginTier, ...]] = {"binance_btcusdt": BTCUSDT_TIERS}
TIERS_EXPECTED = ("expected a preset ({presets}) or a list of rows with floor, max_leverage, mmr, "
                  "cum")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# ---------------------------------------------------------------------------------------------
# Exchange
# ---------------------------------------------------------------------------------------------


class TierRow(_Spec):
    """One row of the maintenance-margin table (Binance's leverage bracket)."""

    floor: float = Field(ge=0, description="lowest position notional in this tier, USD")
    max_leverage: float = Field(ge=1, le=1000)
    mmr: float = Field(gt=0, lt=1, description="maintenance margin rate")
    cum: float = Field(ge=0, description="maintenance amount, USD")

    def to_tier(self) -> MarginTier:
        """Return the row as the simulator's ``MarginTier``."""
        return MarginTier(self.floor, self.max_leverage, self.mmr, self.cum)


def _preset_rows(name: str) -> tuple[TierRow, ...]:
    return tuple(TierRow(floor=t.notional_floor, max_leverage=t.max_leverage,
                         mmr=t.maintenance_margin_rate, cum=t.maintenance_amount)
                 for t in TIER_PRESETS[name])


class ExchangeSpec(_Spec):
    """The perpetual's contract and venue rules; defaults are ``sim.exchange.ExchangeConfig``'s.

    ``tiers`` is a preset name (``binance_btcusdt``) or a list of rows; a preset is expanded
    into its rows, so the resolved scenario (and its hash) records the table actually used.
    """

    tick_size: float = Field(0.1, gt=0)
    lot_size: float = Field(0.001, gt=0)
    maker_fee: float = Field(0.0002, gt=-0.01, lt=0.01)
    taker_fee: float = Field(0.0005, gt=-0.01, lt=0.01)
    tiers: tuple[TierRow, ...] = Field(default_factory=lambda: _preset_rows("binance_btcusdt"))
    funding_interval_s: float = Field(8 * 3600.0, gt=0, le=MAX_DURATION_S)
    interest_rate: float = Field(0.0001, ge=0, le=0.01)
    funding_clamp: float = Field(0.0005, ge=0, le=0.1)
    funding_cap: float = Field(0.003, ge=0, le=1)
    impact_notional: float = Field(25_000.0, gt=0)
    mark_basis_window_s: float = Field(300.0, gt=0)
    liquidation_trigger: Literal["mark", "last"] = "mark"
    clearance_fee_rate: float = Field(0.0125, ge=0, lt=1)
    insurance_fund: float = Field(0.0, ge=0)
    max_trigger_passes: int = Field(64, ge=1, le=100_000)
    price_levels: int = Field(1 << 17, ge=16, le=1 << 24)
    cascade_pass_ms: float = Field(
        0.0, ge=0, le=1000, description="simulated milliseconds one pass of stops and "
        "liquidations takes: with a value above 0 the passes run one at a time and the perp's "
        "makers may requote between them (sim.model); 0: every pass at once")

    @field_validator("tiers", mode="before")
    @classmethod
    def _expand_preset(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value not in TIER_PRESETS:
                raise PydanticCustomError(
                    "tier_preset", TIERS_EXPECTED, {"presets": ", ".join(TIER_PRESETS)})
            return _preset_rows(value)
        if isinstance(value, list):
            return tuple(value)
        if not isinstance(value, tuple):
            raise PydanticCustomError(
                "tier_table", TIERS_EXPECTED, {"presets": ", ".join(TIER_PRESETS)})
        return value

    @field_validator("tiers")
    @classmethod
    def _table(cls, rows: tuple[TierRow, ...]) -> tuple[TierRow, ...]:
        tier_arrays(tuple(row.to_tier() for row in rows))  # raises ValueError with the reason
        return rows

    @property
    def max_leverage(self) -> float:
        """The highest leverage any tier allows (the first tier's, for a normal table)."""
        return max(row.max_leverage for row in self.tiers)

    def to_config(self, initial_price: float) -> ExchangeConfig:
        """Return the simulator's ``ExchangeConfig`` for these rules at ``initial_price``."""
        return ExchangeConfig(
            tick_size=self.tick_size, lot_size=self.lot_size, maker_fee=self.maker_fee,
            taker_fee=self.taker_fee, tiers=tuple(row.to_tier() for row in self.tiers),
            funding_interval_s=self.funding_interval_s, interest_rate=self.interest_rate,
            funding_clamp=self.funding_clamp, funding_cap=self.funding_cap,
            impact_notional=self.impact_notional, mark_basis_window_s=self.mark_basis_window_s,
            liquidation_trigger=TRIGGER_MARK if self.liquidation_trigger == "mark"
            else TRIGGER_LAST,
            clearance_fee_rate=self.clearance_fee_rate, insurance_fund=self.insurance_fund,
            max_trigger_passes=self.max_trigger_passes, initial_price=float(initial_price),
            price_levels=self.price_levels)


# ---------------------------------------------------------------------------------------------
# Index
# ---------------------------------------------------------------------------------------------


class VenueSpec(_Spec):
    """An extra spot venue of the index basket: the major venue's population, smaller."""

    depth_scale: float = Field(
        gt=0, le=1, description="the venue's size relative to the major venue: every USD size "
        "of its agents is the major venue's times this (SpotSpec.scaled)")
    weight: float = Field(gt=0, le=1000, description="its weight in the index (the major "
                          "venue's is 1)")


class BasketSpec(_Spec):
    """Extra spot venues: with them the index is the weighted mean of every venue's mid, each
    clipped to ``median x (1 +/- clip_bps / 1e4)`` (``sim.model.basket_index``)."""

    venues: list[VenueSpec] = Field(
        default_factory=list, max_length=MAX_EXTRA_VENUES, description="the venues beyond the "
        "major one (none: the major venue's mid is the index)")
    clip_bps: float = Field(
        100.0, ge=0, le=10_000, description="each venue's mid counts at most this far from the "
        "venues' median")
    arbitrage: VenueArbitrageParams = Field(
        default_factory=VenueArbitrageParams, description="cross-venue arbitrageurs (built "
        "only when there are extra venues)")


class SpotSpec(_Spec):
    """The spot market whose mid is the index: its own makers and value traders, and an
    optional basket of further venues with the same population, scaled down."""

    makers: MarketMakerParams = Field(
        default_factory=lambda: MarketMakerParams(count=2, index_weight=1.0, anchor="fundamental"))
    value: ValueParams = Field(default_factory=lambda: ValueParams(count=5))
    informed: InformedParams = Field(default_factory=InformedParams)
    latent_liquidity: LatentLiquidityParams = Field(default_factory=LatentLiquidityParams)
    tick_size: float = Field(0.1, gt=0)
    lot_size: float = Field(0.001, gt=0)
    maker_fee: float = Field(0.0001, gt=-0.01, lt=0.01)
    taker_fee: float = Field(0.0002, gt=-0.01, lt=0.01)
    basket: BasketSpec = Field(default_factory=BasketSpec)

    @field_validator("makers", "value", mode="before")
    @classmethod
    def _spot_counts(cls, value: Any, info: Any) -> Any:
        # A partial block keeps the spot defaults (2 makers, 5 value traders), not the
        # perpetual's.
        if isinstance(value, dict) and "count" not in value:
            return {**value, "count": 2 if info.field_name == "makers" else 5}
        return value

    def scaled(self, depth_scale: float) -> SpotSpec:
        """Return this spot population with every USD size times ``depth_scale`` (an extra
        venue of the basket); counts, rates, prices and thresholds are unchanged.

        Scaled: ``makers`` wallet, level_notional, max_inventory_notional; ``value`` wallet,
        size_notional, max_position_notional; ``informed`` wallet, position_per_bp,
        max_position_notional, clip_notional, participation_burst_notional;
        ``latent_liquidity`` wallet, depth_notional. The makers' learning scales
        (reference_depth_notional, concavity_notional) stay: a thinner book reads as thinner.
        """
        update = {}
        for block, names in (
                ("makers", ("wallet", "level_notional", "max_inventory_notional")),
                ("value", ("wallet", "size_notional", "max_position_notional")),
                ("informed", ("wallet", "position_per_bp", "max_position_notional",
                              "clip_notional", "participation_burst_notional")),
                ("latent_liquidity", ("wallet", "depth_notional"))):
            params = getattr(self, block)
            update[block] = params.model_copy(
                update={name: getattr(params, name) * depth_scale for name in names})
        return self.model_copy(update=update)

    def to_config(self, initial_price: float, price_levels: int = 1 << 17) -> ExchangeConfig:
        """Return the spot book's ``ExchangeConfig`` (fees and grid; no insurance fund is held
        and no funding is charged: interest, clamp and cap 0 make every settlement's rate 0)."""
        return ExchangeConfig(tick_size=self.tick_size, lot_size=self.lot_size,
                              maker_fee=self.maker_fee, taker_fee=self.taker_fee,
                              interest_rate=0.0, funding_clamp=0.0, funding_cap=0.0,
                              insurance_fund=0.0, initial_price=float(initial_price),
                              price_levels=price_levels)


class IndexSpec(_Spec):
    """The index: a spot market (default) or the fundamental path itself (``exogenous``).

    The fundamental value is GBM with Poisson jumps and an optional stochastic volatility
    (``sim.fundamental.FundamentalProcess``).
    """

    model: Literal["spot", "exogenous"] = "spot"
    initial_price: float = Field(100_000.0, gt=0, le=1e9)
    drift_per_year: float = Field(0.0, ge=-10, le=10)
    volatility_per_year: float = Field(0.5, ge=0, le=10)
    jump_rate_per_day: float = Field(2.0, ge=0, le=10_000)
    jump_mean: float = Field(0.0, ge=-1, le=1)
    jump_std: float = Field(0.004, ge=0, le=1)
    vol_of_vol: float = Field(0.8, ge=0, le=3)
    vol_half_life_s: float = Field(1800.0, gt=0, le=30 * 86_400)
    spot: SpotSpec = Field(default_factory=SpotSpec)


# ---------------------------------------------------------------------------------------------
# Agents, events, outputs
# ---------------------------------------------------------------------------------------------


class AgentsSpec(_Spec):
    """Agent populations; a missing block means that agent type's default parameters."""

    market_maker: MarketMakerParams = Field(default_factory=MarketMakerParams)
    arbitrageur: ArbitrageurParams = Field(default_factory=ArbitrageurParams)
    noise: NoiseParams = Field(default_factory=NoiseParams)
    value: ValueParams = Field(default_factory=ValueParams)
    informed: InformedParams = Field(default_factory=InformedParams)
    retail: RetailParams = Field(default_factory=RetailParams, validate_default=True)
    whale: WhaleParams = Field(default_factory=WhaleParams)
    latent_liquidity: LatentLiquidityParams = Field(default_factory=LatentLiquidityParams)
    carry: CarryParams = Field(default_factory=CarryParams)
    holders: HolderParams = Field(default_factory=HolderParams, validate_default=True)
    scalpers: ScalperParams = Field(default_factory=ScalperParams, validate_default=True)

    @field_validator("retail", "holders", "scalpers")
    @classmethod
    def _float_leverages(cls, crowd: RetailParams) -> RetailParams:
        # 5 and 5.0 are the same leverage; one key type keeps the canonical JSON (and so the
        # scenario's hash) the same however the mix was written.
        mix = {float(lev): float(w) for lev, w in crowd.leverage_mix.items()}
        return crowd.model_copy(update={"leverage_mix": mix})


class WarmStartSpec(_Spec):
    """Open the positions of a steady state before the first step (``agents.warm_start``)."""

    history_s: float = Field(
        0.0, ge=0, le=30 * 86_400, description="length of the simulated past the positions "
        "are entered along (0: a cold start, an empty market)")


class IndexJump(_Spec):
    """A scheduled shock: the fundamental value jumps by ``log_return`` at ``at_s``."""

    kind: Literal["index_jump"]
    at_s: float = Field(ge=0)
    log_return: float = Field(ge=-1, le=1)


class WhaleActive(_Spec):
    """The whale may act only inside [from_s, to_s)."""

    kind: Literal["whale_active"]
    from_s: float = Field(ge=0)
    to_s: float = Field(gt=0)


class MakerWithdrawal(_Spec):
    """A ``fraction`` of the perpetual's market makers pull their quotes in [from_s, to_s)."""

    kind: Literal["maker_withdrawal"]
    from_s: float = Field(ge=0)
    to_s: float = Field(gt=0)
    fraction: float = Field(gt=0, le=1)


class Regime(_Spec):
    """From ``at_s`` on, the market's background is another: the fundamental's drift and
    volatility and the lean of every crowd (retail, holders, scalpers: in a rally funds lean
    long with the crowd), each left as it was when not given. A run of regimes in turn (calm,
    crowded, stress) is a list of these."""

    kind: Literal["regime"]
    at_s: float = Field(ge=0)
    drift_per_year: float | None = Field(None, ge=-10, le=10)
    volatility_per_year: float | None = Field(None, ge=0, le=10)
    long_bias: float | None = Field(None, ge=0, le=1, description="the crowds' lean "
                                    "(long_bias of agents.retail, holders and scalpers)")

    @model_validator(mode="after")
    def _changes_something(self) -> Regime:
        if (self.drift_per_year, self.volatility_per_year, self.long_bias) == (None,) * 3:
            raise ValueError("a regime changes at least one of drift_per_year, "
                             "volatility_per_year, long_bias")
        return self


Event = Annotated[IndexJump | WhaleActive | MakerWithdrawal | Regime,
                  Field(discriminator="kind")]
EVENT_KINDS = ("index_jump", "whale_active", "maker_withdrawal", "regime")


class OutputsSpec(_Spec):
    """What is recorded: the series cadence and the heatmap grid."""

    series_interval_s: float | None = Field(
        None, gt=0, description="one series row per this many seconds; default: every step")
    heatmap_interval_s: float = Field(60.0, gt=0)
    heatmap_bin_usd: float = Field(50.0, gt=0)
    heatmap_range_pct: float = Field(
        0.25, gt=0, lt=1, description="the grid covers initial price +/- this fraction")


# ---------------------------------------------------------------------------------------------
# Sweep
# ---------------------------------------------------------------------------------------------

MAX_SWEEP_VALUES = 10_000
MAX_SWEEP_POINTS = 100_000
MAX_SWEEP_RUNS = 1_000_000
SWEEP_VALUES_EXPECTED = ("expected a list of values (a whole mapping may be one value) or a "
                         "range {start, stop, step}")


def _decimal(number: int | float) -> Decimal:
    # repr is the shortest text that reads back as the same float: 0.1 stays 0.1, so a range
    # stepped in decimals lands on the numbers as written instead of drifting.
    return Decimal(repr(number))


class SweepRange(_Spec):
    """An inclusive range of numbers: ``start, start + step, ...`` up to ``stop``.

    The steps are added in decimal arithmetic on the numbers as written, so
    ``{start: 0, stop: 0.3, step: 0.1}`` gives 0.0, 0.1, 0.2, 0.3 (not 0.30000000000000004);
    integers throughout give integers. A ``stop`` between two steps is not reached.
    """

    start: int | float
    stop: int | float
    step: int | float = Field(gt=0)

    @model_validator(mode="after")
    def _size(self) -> SweepRange:
        if self.stop < self.start:
            raise ValueError(f"stop ({self.stop:g}) must be at least start ({self.start:g})")
        count = self.count()
        if count > MAX_SWEEP_VALUES:
            raise ValueError(f"gives {count:,} values; at most {MAX_SWEEP_VALUES:,}")
        return self

    def count(self) -> int:
        """Return how many values the range holds."""
        span = (_decimal(self.stop) - _decimal(self.start)) / _decimal(self.step)
        return int(span.to_integral_value(rounding=ROUND_FLOOR)) + 1

    def values(self) -> tuple[int | float, ...]:
        """Return the range's values, in order."""
        start, step = _decimal(self.start), _decimal(self.step)
        whole = all(isinstance(v, int) for v in (self.start, self.stop, self.step))
        cast = int if whole else float
        return tuple(cast(start + i * step) for i in range(self.count()))


class SweepSpec(_Spec):
    """A sweep over the scenario: points over key paths, each run ``replicates`` times.

    ``params`` maps key paths (the ``--set`` syntax: ``agents.retail.count``,
    ``events.0.at_s``) to a list of values or a :class:`SweepRange`. ``grid`` takes every
    combination (the first key varies slowest, the last fastest); ``zip`` pairs the i-th
    values of every key. Replicate r of every point runs on one seed, drawn from
    ``SeedSequence(seed, spawn_key=(r,))`` (``scenarios.sweep.plan.replicate_seed``), so
    points are compared on common random numbers. ``liqsim run`` ignores the block, and it is
    no part of the scenario's hash.
    """

    method: Literal["grid", "zip"] = "grid"
    replicates: int = Field(1, ge=1, le=MAX_SWEEP_RUNS)
    seed: int = Field(0, ge=0, le=2**63 - 1)
    params: dict[str, tuple[Any, ...] | SweepRange] = Field(default_factory=dict)

    @field_validator("params", mode="before")
    @classmethod
    def _read_params(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise PydanticCustomError(
                "sweep_params", "expected a mapping of key paths to values: {expected}",
                {"expected": SWEEP_VALUES_EXPECTED})
        problems: list[tuple[str, Any, str]] = []
        params: dict[str, tuple[Any, ...] | SweepRange] = {}
        keys = [k for k in value if isinstance(k, str)]
        for key, values in value.items():
            path = f"sweep.params.{key}"
            problem = _sweep_key_problem(key, keys)
            if problem is not None:
                problems.append((path, NO_VALUE, problem) if isinstance(key, str)
                                else ("sweep.params", key, problem))
            elif isinstance(values, list | tuple):
                bad = next((v for v in values if not _plain_data(v)), NO_VALUE)
                if not values:
                    problems.append((path, values, "expected at least one value"))
                elif bad is not NO_VALUE:
                    problems.append((path, bad, "expected plain data (numbers, text, booleans, "
                                                "lists, mappings), finite numbers"))
                else:
                    params[key] = tuple(values)
            elif isinstance(values, dict):
                try:
                    params[key] = SweepRange.model_validate(values, strict=True)
                except ValidationError as exc:
                    problems += [_range_problem(path, e) for e in exc.errors(include_url=False)]
            else:
                problems.append((path, values, SWEEP_VALUES_EXPECTED))
        if problems:
            raise PydanticCustomError(
                "scenario_checks", "{summary}",
                {"summary": "; ".join(f"{p}: {m}" for p, _, m in problems), "problems": problems})
        return params

    @model_validator(mode="after")
    def _sizes(self) -> SweepSpec:
        problems: list[tuple[str, Any, str]] = []
        lengths = {key: len(self.values(key)) for key in self.params}
        if self.method == "zip" and len(set(lengths.values())) > 1:
            found = ", ".join(f"{key} has {n}" for key, n in lengths.items())
            problems.append(("sweep.params", NO_VALUE, f"method zip pairs the i-th values of "
                                                       f"every key, so every key needs as many "
                                                       f"values: {found}"))
        elif self.n_points > MAX_SWEEP_POINTS:
            problems.append(("sweep.params", NO_VALUE, f"gives {self.n_points:,} points; at "
                                                       f"most {MAX_SWEEP_POINTS:,}"))
        elif self.n_points * self.replicates > MAX_SWEEP_RUNS:
            problems.append(("sweep.replicates", self.replicates,
                             f"{self.n_points:,} points x {self.replicates:,} replicates is "
                             f"more than {MAX_SWEEP_RUNS:,} runs"))
        if problems:
            raise PydanticCustomError(
                "scenario_checks", "{summary}",
                {"summary": "; ".join(f"{p}: {m}" for p, _, m in problems), "problems": problems})
        return self

    def values(self, key: str) -> tuple[Any, ...]:
        """Return the values swept at ``key`` (a range expanded), in order."""
        given = self.params[key]
        return given.values() if isinstance(given, SweepRange) else given

    @property
    def n_points(self) -> int:
        """The number of points (1 with no params: the scenario itself)."""
        lengths = [len(self.values(key)) for key in self.params]
        if self.method == "zip":
            return lengths[0] if lengths else 1
        return math.prod(lengths)

    def points(self) -> list[dict[str, Any]]:
        """Return each point's ``{key path: value}``; a point's index is its id."""
        keys = list(self.params)
        if not keys:
            return [{}]
        columns = [self.values(key) for key in keys]
        combos = zip(*columns, strict=True) if self.method == "zip" else itertools.product(
            *columns)
        return [dict(zip(keys, combo, strict=True)) for combo in combos]


def _sweep_key_problem(key: Any, keys: Sequence[str]) -> str | None:
    """Return why ``key`` cannot be swept, or None."""
    if not (isinstance(key, str) and _is_key_path(key)):
        return "expected a key path, e.g. agents.retail.count"
    if key == "seed":
        return ("the sweep sets every run's seed from sweep.seed and the replicate; ask for "
                "more sweep.replicates instead")
    if key.split(".")[0] == "sweep":
        return "a sweep cannot set its own block"
    inside = next((k for k in keys if key.startswith(k + ".")), None)
    if inside is not None:
        return f"lies inside {inside}, which is swept too; sweep one or the other"
    return None


def _plain_data(value: Any) -> bool:
    """Return whether ``value`` is YAML plain data that JSON can carry (finite numbers)."""
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_plain_data(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str | int | float | bool) and _plain_data(k)
                   and _plain_data(v) for k, v in value.items())
    return False


def _range_problem(path: str, error: dict) -> tuple[str, Any, str]:
    """Return ``(key path, value, expected)`` for one error of a ``SweepRange``."""
    loc = ".".join(str(item) for item in error["loc"])
    where = f"{path}.{loc}" if loc else path
    if error["type"] == "missing":
        return where, NO_VALUE, "missing; a range needs start, stop and step"
    if error["type"] == "extra_forbidden":
        return where, NO_VALUE, "unknown key; a range has start, stop and step"
    message = error["msg"].removeprefix("Value error, ")
    return where, error["input"] if loc else NO_VALUE, message


# ---------------------------------------------------------------------------------------------
# Scenario
# ---------------------------------------------------------------------------------------------


class Scenario(_Spec):
    """One experiment: run length, seed, exchange rules, index, agents, events, outputs; and
    the sweep ``liqsim sweep`` runs over it (``SweepSpec``; no part of the hash)."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
    description: str = Field("", max_length=4000)
    duration_s: float = Field(gt=0, le=MAX_DURATION_S)
    step_s: float = Field(1.0, gt=0)
    seed: int = Field(0, ge=0, le=2**63 - 1)
    exchange: ExchangeSpec = Field(default_factory=ExchangeSpec)
    index: IndexSpec = Field(default_factory=IndexSpec)
    agents: AgentsSpec = Field(default_factory=AgentsSpec)
    events: tuple[Event, ...] = ()
    outputs: OutputsSpec = Field(default_factory=OutputsSpec)
    warm_start: WarmStartSpec = Field(default_factory=WarmStartSpec)
    sweep: SweepSpec | None = Field(
        None, exclude=True,
        description="the sweep liqsim sweep runs; not part of the resolved scenario or its hash")

    @field_validator("events", mode="before")
    @classmethod
    def _event_list(cls, value: Any) -> Any:
        if isinstance(value, list):
            return tuple(value)
        if not isinstance(value, tuple):
            raise PydanticCustomError(
                "event_list", "expected a list of events, each with a kind ({kinds})",
                {"kinds": ", ".join(EVENT_KINDS)})
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        if self.outputs.series_interval_s is None:
            # Frozen model: fill the documented default once, while it is being built.
            object.__setattr__(self, "outputs",
                               self.outputs.model_copy(update={"series_interval_s": self.step_s}))
        problems = _cross_field_problems(self)
        if problems:
            raise PydanticCustomError(
                "scenario_checks", "{summary}",
                {"summary": "; ".join(f"{p}: {m}" for p, _, m in problems), "problems": problems})
        return self

    def resolved(self) -> dict[str, Any]:
        """Return the scenario with every default filled, as JSON-ready data.

        Infinite floats (a whale's open-ended ``active_to_s``) become the string ``"inf"``,
        which strict JSON can carry and ``Scenario.model_validate`` reads back.
        """
        return _finite_json(self.model_dump(mode="json"))

    def canonical_json(self) -> str:
        """Return the resolved scenario as JSON with sorted keys and no whitespace."""
        return json.dumps(self.resolved(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False, allow_nan=False)

    def sha256(self) -> str:
        """Return the sha256 (hex) of the canonical JSON: the scenario's identity."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


def _finite_json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # 'inf', '-inf', 'nan'
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_json(v) for v in value]
    return value


def _cross_field_problems(sc: Scenario) -> list[tuple[str, Any, str]]:
    """Return ``(key path, value, expected)`` for each rule that spans several fields."""
    problems: list[tuple[str, Any, str]] = []
    duration = sc.duration_s
    if sc.step_s > duration:
        problems.append(("step_s", sc.step_s, f"must be at most duration_s ({duration:g})"))
    elif duration / sc.step_s > MAX_STEPS:
        problems.append(("step_s", sc.step_s,
                         f"duration_s / step_s must be at most {MAX_STEPS:,} steps"))

    ex = sc.exchange
    if ex.maker_fee + ex.taker_fee < 0:
        problems.append(("exchange.maker_fee", ex.maker_fee,
                         f"maker_fee + taker_fee must be >= 0 (taker_fee is {ex.taker_fee:g}): "
                         "the venue cannot pay both sides to trade"))
    else:
        try:
            ex.to_config(sc.index.initial_price)
        except ValueError as exc:  # a rule of ExchangeConfig this schema does not mirror
            problems.append(("exchange", NO_VALUE, str(exc)))

    if sc.index.model == "exogenous" and sc.index.spot.basket.venues:
        problems.append(("index.spot.basket.venues", NO_VALUE,
                         "a basket of spot venues needs index.model: spot"))
    if sc.index.model == "exogenous" and sc.agents.carry.count > 0:
        problems.append(("agents.carry.count", sc.agents.carry.count,
                         "carry traders hedge on the spot book: agents.carry needs "
                         "index.model: spot (or count 0)"))
    whale = sc.agents.whale
    if sc.index.model == "exogenous" and whale.count > 0 and whale.push_venue != "perp":
        problems.append(("agents.whale.push_venue", whale.push_venue,
                         "pushing on the index needs index.model: spot (or push_venue: perp)"))

    max_leverage = sc.exchange.max_leverage
    leveraged = [(f"agents.{name}", getattr(sc.agents, name))
                 for name in AgentsSpec.model_fields]
    leveraged += [("index.spot.makers", sc.index.spot.makers),
                  ("index.spot.value", sc.index.spot.value),
                  ("index.spot.informed", sc.index.spot.informed),
                  ("index.spot.latent_liquidity", sc.index.spot.latent_liquidity),
                  ("index.spot.basket.arbitrage", sc.index.spot.basket.arbitrage)]
    for path, params in leveraged:
        leverage = getattr(params, "leverage", None)  # retail has a leverage_mix instead
        if leverage is not None and leverage > max_leverage:
            problems.append((f"{path}.leverage", leverage,
                             f"must be at most the exchange tiers' max leverage "
                             f"({max_leverage:g})"))
    for name in ("retail", "holders", "scalpers"):
        mix = getattr(sc.agents, name).leverage_mix
        too_high = sorted(lev for lev in mix if lev > max_leverage)
        if too_high:
            problems.append((f"agents.{name}.leverage_mix", mix,
                             f"leverage {too_high[0]:g} is above the exchange tiers' max "
                             f"leverage ({max_leverage:g})"))
    if sc.warm_start.history_s > 0 and sc.agents.holders.count == 0:
        problems.append(("warm_start.history_s", sc.warm_start.history_s,
                         "a warm start needs holders to take the other side of the positions "
                         "it opens: set agents.holders.count >= 1 (or history_s: 0)"))

    for i, event in enumerate(sc.events):
        path = f"events[{i}]"
        if isinstance(event, IndexJump | Regime):
            if event.at_s > duration:
                problems.append((f"{path}.at_s", event.at_s,
                                 f"must be within the run (0 to duration_s = {duration:g})"))
            crowds = sc.agents.retail.count + sc.agents.holders.count + sc.agents.scalpers.count
            if isinstance(event, Regime) and event.long_bias is not None and crowds == 0:
                problems.append((f"{path}.long_bias", event.long_bias,
                                 "needs a crowd: set agents.retail, holders or scalpers count "
                                 ">= 1"))
            continue
        if event.to_s <= event.from_s:
            problems.append((f"{path}.to_s", event.to_s,
                             f"must be after from_s ({event.from_s:g})"))
        if event.from_s > duration:
            problems.append((f"{path}.from_s", event.from_s,
                             f"must be within the run (0 to duration_s = {duration:g})"))
        if event.to_s > duration:
            problems.append((f"{path}.to_s", event.to_s,
                             f"must be within the run (0 to duration_s = {duration:g})"))
        if isinstance(event, WhaleActive) and sc.agents.whale.count == 0:
            problems.append((f"{path}.kind", event.kind,
                             "needs a whale: set agents.whale.count >= 1"))
        if isinstance(event, MakerWithdrawal) and sc.agents.market_maker.count == 0:
            problems.append((f"{path}.kind", event.kind,
                             "needs market makers: set agents.market_maker.count >= 1"))

    out = sc.outputs
    if sc.step_s > duration:
        pass  # the cadences below are measured in steps; the step is already reported
    elif out.series_interval_s is not None and not (
            sc.step_s <= out.series_interval_s <= duration):
        problems.append(("outputs.series_interval_s", out.series_interval_s,
                         f"must be between step_s ({sc.step_s:g}) and duration_s ({duration:g})"))
    if sc.step_s <= duration and out.heatmap_interval_s < sc.step_s:
        problems.append(("outputs.heatmap_interval_s", out.heatmap_interval_s,
                         f"must be at least step_s ({sc.step_s:g})"))
    n_bins = 2 * out.heatmap_range_pct * sc.index.initial_price / out.heatmap_bin_usd
    if n_bins > MAX_HEATMAP_BINS:
        problems.append(("outputs.heatmap_bin_usd", out.heatmap_bin_usd,
                         f"gives {n_bins:,.0f} price bins; at most {MAX_HEATMAP_BINS:,} "
                         f"(widen the bin or narrow heatmap_range_pct)"))

    for path, number in _numbers(sc, ""):
        if path == "seed" or path.startswith("sweep."):
            continue  # any seed is valid; the sweep block checks its own values
        if isinstance(number, float) and not math.isfinite(number):
            if path == "agents.whale.active_to_s" and number == math.inf:
                continue  # the documented default: active until the end of the run
            problems.append((path, number, "expected a finite number"))
        elif abs(number) > MAX_MAGNITUDE:
            problems.append((path, number, f"expected a number at most {MAX_MAGNITUDE:g} "
                                           "in magnitude"))
    return problems


def _numbers(node: Any, path: str) -> Iterator[tuple[str, int | float]]:
    """Yield ``(key path, number)`` for every number inside a validated scenario."""
    if isinstance(node, bool):
        return
    if isinstance(node, int | float):
        yield path, node
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _numbers(getattr(node, name), f"{path}.{name}" if path else name)
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _numbers(key, path)
            yield from _numbers(value, f"{path}.{key}")
    elif isinstance(node, tuple | list):
        for i, value in enumerate(node):
            yield from _numbers(value, f"{path}[{i}]")


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


class ScenarioError(Exception):
    """A scenario that cannot be used; ``problems`` holds one human-readable line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class _StrictSafeLoader(yaml.SafeLoader):
    """``yaml.safe_load``'s loader (no tags that build objects), stricter in two ways.

    A key given twice in one mapping is an error instead of silently keeping the last, and
    ``1e6`` is a float as in YAML 1.2 (PyYAML's YAML 1.1 resolver reads it as a string).
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {key!r}", key_node.start_mark)
            seen[key] = key_node
        return super().construct_mapping(node, deep)


_StrictSafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))
_StrictSafeLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictSafeLoader.construct_mapping)


def _parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_StrictSafeLoader)  # noqa: S506 - a SafeLoader subclass


_SHORT = reprlib.Repr()
_SHORT.maxstring = 50
_SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 6
_SHORT.maxlevel = 3


def _short(value: Any, width: int = 60) -> str:
    """Return ``repr(value)`` cut to about ``width`` characters (safe on huge structures)."""
    text = _SHORT.repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def bundled_scenarios() -> list[str]:
    """Return the names of the scenarios shipped with liqsim, sorted."""
    root = resources.files("scenarios")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def _read_source(source: str | Path) -> tuple[str, bytes]:
    """Return ``(label, raw bytes)`` of a bundled name or a path; the label names the file."""
    if isinstance(source, str) and re.fullmatch(r"[A-Za-z0-9_\-]+", source):
        names = bundled_scenarios()
        if source not in names:
            raise ScenarioError([f"{source}: unknown scenario name; bundled scenarios are: "
                                 f"{', '.join(names)} (or give a path to a .yaml file)"])
        label = f"{source}.yaml"
        return label, resources.files("scenarios").joinpath(label).read_bytes()
    path = Path(source)
    label = str(source)
    try:
        if path.is_dir():
            raise ScenarioError([f"{label}: is a directory, not a scenario file"])
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ScenarioError([f"{label}: the file is {size:,} bytes; a scenario file is at "
                                 f"most {MAX_FILE_BYTES:,}"])
        return label, path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError([f"{label}: no such file (bundled scenarios are: "
                             f"{', '.join(bundled_scenarios())})"]) from None
    except OSError as exc:
        raise ScenarioError([f"{label}: cannot read the file: {exc.strerror or exc}"]) from None


def _parse_document(label: str, raw: bytes) -> dict:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScenarioError([f"{label}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                             f"{exc.start}); save the file as UTF-8"]) from None
    try:
        data = _parse_yaml(text)
    except yaml.YAMLError as exc:
        raise ScenarioError([f"{label}: {_yaml_problem(exc)}"]) from None
    except RecursionError:
        raise ScenarioError([f"{label}: not valid YAML: nested too deeply"]) from None
    except (ValueError, TypeError, OverflowError) as exc:
        # PyYAML lets a few constructor errors through, e.g. an impossible date (2024-13-01).
        raise ScenarioError([f"{label}: a value cannot be read as YAML: {exc} (quote it if "
                             f"it is text)"]) from None
    if data is None:
        raise ScenarioError([f"{label}: the file is empty; expected a YAML mapping with at "
                             f"least the keys name and duration_s"])
    if not isinstance(data, dict):
        raise ScenarioError([f"{label}: (top level): got {_short(data)}: expected a YAML "
                             f"mapping of scenario keys ({', '.join(Scenario.model_fields)})"])
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """Return one line saying where the YAML is broken and why."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if isinstance(exc, yaml.constructor.ConstructorError) and "constructor for the tag" in problem:
        tag = problem.split("tag", 1)[1].strip()
        return (f"{where}YAML tag {tag} is not allowed: a scenario is plain data (mappings, "
                f"lists, strings, numbers)")
    return f"{where}not valid YAML: {problem}"


Overrides = Sequence[str] | Mapping[str, Any]
"""``key.path=value`` strings (each value read as YAML), or a mapping of key paths to values."""


def _override_pairs(label: str, overrides: Overrides, origin: str = "--set"
                    ) -> tuple[list[tuple[str, Any]], list[str]]:
    """Return ``(key path, value)`` for each override, and the problems found reading them."""
    pairs: list[tuple[str, Any]] = []
    problems: list[str] = []
    if isinstance(overrides, Mapping):
        for key, value in overrides.items():
            if not (isinstance(key, str) and _is_key_path(key)):
                problems.append(f"{label}: {origin} key {key!r}: expected a key path, e.g. "
                                f"agents.retail.count")
                continue
            pairs.append((key, copy.deepcopy(value)))
        return pairs, problems
    if isinstance(overrides, str):
        overrides = [overrides]
    for text in overrides:
        key, sep, value_text = str(text).partition("=")
        key = key.strip()
        if not sep or not _is_key_path(key):
            problems.append(f"{label}: --set {text!r}: expected key.path=value, e.g. "
                            f"agents.retail.count=100")
            continue
        try:
            pairs.append((key, _parse_yaml(value_text)))
        except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
            detail = (_yaml_problem(exc) if isinstance(exc, yaml.YAMLError)
                      else f"the value cannot be read as YAML: {exc}")
            problems.append(f"{label}: --set {key}: {detail}")
    return pairs, problems


def _is_key_path(key: str) -> bool:
    return all(re.fullmatch(r"[A-Za-z0-9_]+", part) for part in key.split("."))


def _apply_overrides(label: str, data: dict, overrides: Overrides, origin: str = "--set"
                     ) -> tuple[list[str], set[str]]:
    """Set each override in ``data`` (in order); return the problems found and the key paths.

    ``origin`` names where the overrides came from in the messages (``--set``, a sweep point).
    """
    pairs, problems = _override_pairs(label, overrides, origin)
    for key, value in pairs:
        parts = key.split(".")
        where = f"{label}: {_named(origin, key)}"
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            child = _child(node, part)
            if child is None and parts[depth + 1].isdigit():
                problems.append(f"{where}: {'.'.join(parts[:depth + 1])} has no list item "
                                f"{parts[depth + 1]}")
                break
            if child is None:
                child = {}
                if not _set_child(node, part, child):
                    problems.append(f"{where}: {'.'.join(parts[:depth])} has no list item {part}")
                    break
            if not isinstance(child, dict | list):
                problems.append(f"{where}: {'.'.join(parts[:depth + 1])} is {_short(child)}, "
                                f"not a mapping")
                break
            node = child
        else:
            if not _set_child(node, parts[-1], value):
                problems.append(f"{where}: no list item {parts[-1]} in {'.'.join(parts[:-1])}")
    return problems, {key for key, _ in pairs}


def _named(origin: str, key: str) -> str:
    """Return how a message names an override: ``--set a.b`` or ``sweep.params.a.b``."""
    return f"{origin} {key}" if origin.startswith("--") else f"{origin}.{key}"


def _child(node: dict | list, part: str) -> Any:
    if isinstance(node, list):
        return node[int(part)] if part.isdigit() and int(part) < len(node) else None
    return node.get(part)


def _set_child(node: dict | list, part: str, value: Any) -> bool:
    if isinstance(node, list):
        if not (part.isdigit() and int(part) < len(node)):
            return False
        node[int(part)] = value
    else:
        node[part] = value
    return True


def _key_path(loc: tuple) -> str:
    """Return a pydantic error location as ``agents.retail.count`` / ``events[0].at_s``."""
    path = ""
    for i, item in enumerate(loc):
        if isinstance(item, int):
            path += f"[{item}]"
        elif i >= 2 and loc[i - 2] == "events" and isinstance(loc[i - 1], int) and (
                item in EVENT_KINDS):
            continue  # the union's tag, already visible as the item's kind
        elif item == "[key]":
            path += " (key)"
        else:
            path += f".{item}" if path else str(item)
    return path or "(top level)"


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """Return the schema model found at ``loc`` inside ``Scenario``, if one is."""
    model: type[BaseModel] = Scenario
    items = list(loc)
    while items:
        item = items.pop(0)
        if item == "events" and items and isinstance(items[0], int):
            items.pop(0)
            kind = items.pop(0) if items else None
            model = {"index_jump": IndexJump, "whale_active": WhaleActive,
                     "maker_withdrawal": MakerWithdrawal, "regime": Regime}.get(kind)
            if model is None:
                return None
            continue
        if isinstance(item, int):
            continue  # an item of a list block: the list's field already named its model
        field = model.model_fields.get(item) if isinstance(item, str) else None
        annotation = field.annotation if field is not None else None
        # An optional block (``SweepSpec | None``) names its model among the union's members.
        found = [a for a in (annotation, *get_args(annotation))
                 if isinstance(a, type) and issubclass(a, BaseModel)]
        if not found:
            return None
        model = found[0]
    return model


def _format_error(label: str, error: dict, set_paths: set[str], origin: str = "--set"
                  ) -> list[str]:
    """Return the lines that describe one pydantic error."""
    if error["type"] == "scenario_checks":
        return [f"{label}: {path}: {message}" if value is NO_VALUE
                else f"{label}: {path}: got {_short(value)}: {message}"
                for path, value, message in error["ctx"]["problems"]]
    loc = tuple(error["loc"])
    path = _key_path(loc)
    from_set = f" (set by {origin})" if any(path == p or path.startswith(p + ".")
                                        or path.startswith(p + "[") for p in set_paths) else ""
    if error["type"] == "missing":
        return [f"{label}: {path}: missing; this key is required{from_set}"]
    if error["type"] == "extra_forbidden":
        model = _model_at(loc[:-1])
        expected = ""
        if model is not None:
            allowed = list(model.model_fields)
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            expected = (f"; did you mean {close[0]}?" if close else "") + (
                f" (expected one of: {', '.join(allowed)})")
        return [f"{label}: {path}: unknown key{expected}{from_set}"]
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        value = error["input"].get("kind") if isinstance(error["input"], dict) else None
        got = "missing" if value is None else f"got {_short(value)}"
        return [f"{label}: {path}.kind: {got}: expected one of {', '.join(EVENT_KINDS)}"
                f"{from_set}"]
    value = error["input"]
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if error["type"] in ("model_type", "dict_type", "model_attributes_type"):
        message = "expected a mapping of keys to values"
    elif error["type"] in ("int_type", "float_type", "int_parsing", "float_parsing"):
        if isinstance(value, bool):
            message += " (true/false, yes/no and on/off are booleans in YAML)"
        elif isinstance(value, str):
            message += " (a quoted value is text; write the number without quotes)"
    return [f"{label}: {path}: got {_short(value)}: {message}{from_set}"]


def load_scenario(source: str | Path, overrides: Overrides = ()) -> Scenario:
    """Return the validated scenario read from a bundled name or a YAML file.

    Args:
        source: a bundled scenario's name (see ``bundled_scenarios()``), or a path.
        overrides: applied before validation: ``key.path=value`` strings, each value read
            as YAML (``agents.retail.count=100``, ``exchange.liquidation_trigger=last``,
            ``events.0.at_s=60``), or a mapping of key paths to values
            (``{"duration_s": 3600, "agents.retail.count": 5000}``).

    Raises:
        ScenarioError: with one line per problem: the file, the key path, the value found
            and what was expected.
    """
    label, raw = _read_source(source)
    return _validated(label, _parse_document(label, raw), overrides)


MAX_POINT_PROBLEMS = 20  # a key that is wrong at every point would otherwise repeat 1,000 times


def load_sweep_points(source: str | Path, overrides: Overrides = ()
                      ) -> tuple[Scenario, list[Scenario]]:
    """Return the scenario (with ``overrides``) and the scenario of each point of its sweep.

    A point's scenario is the file with ``overrides`` applied, then the point's values
    (``SweepSpec.points()``), validated as a whole; its ``sweep`` is None. Every point is
    checked before this returns. A scenario with no ``sweep`` block is its own single point.

    Raises:
        ScenarioError: the scenario is invalid, or points are: each line names the point's
            index (``sweep point 3``), the key path and what was expected (at most
            ``MAX_POINT_PROBLEMS`` lines, then how many more there were).
    """
    label, raw = _read_source(source)
    data = _parse_document(label, raw)
    base = _validated(label, copy.deepcopy(data), overrides)
    if base.sweep is None:
        return base, [base]
    _apply_overrides(label, data, overrides)  # already known to apply cleanly
    scenarios: list[Scenario] = []
    failing: dict[str, list[int]] = {}  # a problem's text -> the points that have it
    for index, point in enumerate(base.sweep.points()):
        try:
            sc = _validated(label, copy.deepcopy(data), point, origin="sweep.params")
        except ScenarioError as exc:
            for line in exc.problems:
                failing.setdefault(line.removeprefix(f"{label}: "), []).append(index)
            continue
        scenarios.append(sc.model_copy(update={"sweep": None}))
    problems = [f"{label}: {_point_list(indices)}: {text}" for text, indices in failing.items()]
    if len(problems) > MAX_POINT_PROBLEMS:
        more = len(problems) - MAX_POINT_PROBLEMS
        problems = [*problems[:MAX_POINT_PROBLEMS], f"{label}: ... and {more:,} more problems "
                                                   f"at other sweep points"]
    if problems:
        raise ScenarioError(problems)
    return base, scenarios


def _point_list(indices: list[int]) -> str:
    """Return ``sweep point 3`` or ``sweep points 0, 1, 2, 3, 4, ... (12 points)``."""
    if len(indices) == 1:
        return f"sweep point {indices[0]}"
    shown = ", ".join(str(i) for i in indices[:5])
    return f"sweep points {shown}" + (f", ... ({len(indices)} points)" if len(indices) > 5
                                       else "")


def _validated(label: str, data: dict, overrides: Overrides, origin: str = "--set"
               ) -> Scenario:
    """Return ``data`` with ``overrides`` applied, validated; raise ``ScenarioError``."""
    problems, set_paths = _apply_overrides(label, data, overrides, origin)
    if problems:
        raise ScenarioError(problems)
    set_paths = {re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", p) for p in set_paths}
    try:
        # Strict: YAML already gives typed values, so "10" for a number or true for a count
        # is a mistake to report, not something to coerce.
        return Scenario.model_validate(data, strict=True)
    except ValidationError as exc:
        lines: list[str] = []
        for error in exc.errors(include_url=False):
            lines.extend(_format_error(label, error, set_paths, origin))
        raise ScenarioError(lines) from None
