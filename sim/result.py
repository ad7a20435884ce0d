"""A run's results: tables in memory, and their run directory on disk.

``RunResult.write`` writes a run directory atomically: every file goes into a temporary
sibling directory that is renamed into place at the end, so a reader never sees half a run.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from sim.public_data import no_candles

TABLES = ("series", "trades", "liquidations", "funding", "accounts", "events", "hunts",
          "warm_candles")


@dataclass(frozen=True)
class HuntRecord:
    """One finished hunt of a whale: what it aimed at, what it expected, what it spent, what
    it set off, and what it made. Notionals in USD; ``_t`` fields in simulated seconds.

    Attributes:
        whale: the whale's perp account.
        map: the heatmap it read, ``"true"`` (omniscient) or ``"estimated"`` (public).
        venue: where it pushed: ``"perp"``, ``"index"`` (the thinnest spot venue of the index)
            or ``"both"``.
        trigger: the price its push watched: ``"mark"`` or ``"last"`` (the liquidation
            trigger when the cluster holds liquidations, else the last price stops watch).
        side: side of the hunted cluster: ``"long"`` (long liquidations below the price,
            pushed down) or ``"short"`` (above, pushed up).
        start_t: when the target was chosen; ``build_end_t``, ``push_end_t``, ``end_t`` when
            the build, the push and the hunt (every position closed) ended.
        start_price: the watched price at ``start_t``.
        target_price: the cluster's notional-weighted centre; ``target_low``, ``target_high``
            its price range.
        target_notional: the forced flow it expected: the cluster's liquidations plus (true
            map only) its stops, as its map showed them at ``start_t``.
        expected_cost: the push notional it expected to need (``agents.whale.push_cost``).
        distance_pct: distance from ``start_price`` to the cluster's near edge (percent).
        oi_notional: open interest at ``start_t`` (at the mark); ``max_position_notional``
            and ``push_budget_notional`` the sizes it derived from the market then.
        built_notional: position at entry price when the build ended.
        pushed_notional: spent in the push's market orders, on every venue.
        peak_notional: largest perp position held (at entry price).
        stops_triggered_notional: stop orders of the hunted side that fired from the push's
            start to the hunt's end, at their fill prices.
        liquidated_notional: liquidations of the hunted side over the same span, at their
            fill prices (the bankruptcy price where the book could not fill).
        forced_notional: ``stops_triggered_notional + liquidated_notional``.
        cascade_multiplier: ``forced_notional / pushed_notional`` (NaN without a push).
        outcome: how the push ended (``target reached``, ``budget spent``, ``no longer
            affordable`` when the hunt re-priced at push time found nothing to push to, ...).
        success: the target was reached and the hunt closed at a profit (``pnl > 0``).
        end_reason: how the positions were closed.
        pnl: wallet change over the hunt on every venue (trades, fees and funding).
        realized_pnl: realized trade PnL over the hunt; ``fees``: fees paid over it.
    """

    whale: int
    map: str
    venue: str
    trigger: str
    side: str
    start_t: float
    build_end_t: float
    push_end_t: float
    end_t: float
    start_price: float
    target_price: float
    target_low: float
    target_high: float
    target_notional: float
    expected_cost: float
    distance_pct: float
    oi_notional: float
    max_position_notional: float
    push_budget_notional: float
    built_notional: float
    pushed_notional: float
    peak_notional: float
    stops_triggered_notional: float
    liquidated_notional: float
    forced_notional: float
    cascade_multiplier: float
    outcome: str
    success: bool
    end_reason: str
    pnl: float
    realized_pnl: float
    fees: float


HUNT_COLUMNS = tuple(f.name for f in fields(HuntRecord))


def hunt_table(records: Iterable[HuntRecord]) -> pd.DataFrame:
    """Return one row per hunt, in the order given, with ``HUNT_COLUMNS`` even when empty."""
    rows = [astuple(r) for r in records]
    table = pd.DataFrame(rows, columns=list(HUNT_COLUMNS))
    if not rows:
        dtypes = {"str": object, "float": "float64", "bool": "bool", "int": "int64"}
        kinds = {f.name: dtypes[f.type] for f in fields(HuntRecord)}
        table = table.astype(kinds)
    return table


def account_pnl(accounts: pd.DataFrame, mark: float) -> pd.Series:
    """Return each account's PnL in USD: realized trades, less fees and funding paid, plus the
    open position marked at ``mark`` (``position x (mark - entry)``, base-currency positions)."""
    return (accounts["realized_pnl"] - accounts["fees"] - accounts["funding"]
            + accounts["position"] * (mark - accounts["entry_price"]))


@dataclass
class RunResult:
    """Everything a run recorded.

    Attributes:
        manifest: scenario, seed, versions, timings, invariants (JSON-ready).
        series: one row per recording interval (prices, funding, OI, volume, liquidations).
        trades: every fill (USD price, base-currency quantity).
        liquidations: every liquidation, with the owner's agent type.
        funding: every funding settlement.
        accounts: the final state of every perp account.
        events: whale phases, scheduled events.
        hunts: one row per finished whale hunt (``HuntRecord``'s fields).
        warm_candles: the public 1-minute candles of a warm start's simulated past, closing
            at or before 0 (``agents.warm_start.past_candles``; no rows on a cold start).
        heatmap: the true heatmap: ``t`` (T), ``price_edges`` (P+1), ``long`` and ``short`` (T x P)
            notional (USD) of open positions whose liquidation price lies in each bin.
    """

    manifest: dict
    series: pd.DataFrame
    trades: pd.DataFrame
    liquidations: pd.DataFrame
    funding: pd.DataFrame
    accounts: pd.DataFrame
    events: pd.DataFrame
    heatmap: dict[str, np.ndarray]
    hunts: pd.DataFrame
    warm_candles: pd.DataFrame

    def write(self, directory: str | Path) -> Path:
        """Write the run directory ``directory`` atomically; return its path.

        Raises:
            FileExistsError: the directory exists and is not empty.
        """
        target = Path(directory)
        if target.exists() and any(target.iterdir()):
            raise FileExistsError(f"{target} exists and is not empty")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            for name in TABLES:
                getattr(self, name).to_parquet(tmp / f"{name}.parquet", index=False)
            np.savez_compressed(tmp / "heatmap_true.npz", **self.heatmap)
            (tmp / "manifest.json").write_text(json.dumps(self.manifest, indent=2,
                                                          sort_keys=True, default=str) + "\n")
            if target.exists():
                target.rmdir()
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, directory: str | Path) -> RunResult:
        """Read a run directory written by ``write``."""
        path = Path(directory)
        if not (path / "manifest.json").is_file():
            raise FileNotFoundError(f"{path} is not a run directory (no manifest.json)")
        # A run directory written before warm_candles existed reads as a cold start.
        tables = {name: pd.read_parquet(path / f"{name}.parquet") for name in TABLES
                  if name != "warm_candles" or (path / f"{name}.parquet").is_file()}
        tables.setdefault("warm_candles", no_candles())
        with np.load(path / "heatmap_true.npz") as npz:
            heatmap = {key: npz[key] for key in npz.files}
        manifest = json.loads((path / "manifest.json").read_text())
        return cls(manifest=manifest, heatmap=heatmap, **tables)
