"""One run of many: simulate it in a worker, write its directory, return its headline row.

``simulate_run`` is the task every multi-run command sends to its workers (a top-level
function, so a spawned process or a Dask worker can import it). It never raises: a run that
fails comes back as a row with ``status == "error"`` and the error's text, and nothing is
written for it, so the next attempt starts clean. ``existing_run`` says whether a run
directory already holds the run asked for: ``RunResult.write`` renames a finished run into
place, so a directory with a manifest is complete.
"""

from __future__ import annotations

import json
import math
import shutil
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

from analysis.analyze import recorded_exchange, whale_pnl
from analysis.stylized_facts import stylized_facts
from scenarios.runner import largest_cascade, run
from scenarios.schema import Scenario
from sim.result import RunResult

OK = "ok"
ERROR = "error"


class RunDirError(ValueError):
    """A run directory holds something other than the run asked for; the message names it."""


def run_metrics(result: RunResult) -> dict[str, Any]:
    """Return a run's headline numbers, one flat row.

    Liquidations by side (count, and notional at fill prices, USD); the largest cascade
    (``scenarios.runner.largest_cascade``: liquidations less than 60 s apart); open interest
    at the first and last series row (base currency) and its change, also in percent; the
    last price's change in percent; funding settlements and their mean, min and max rate;
    the whales' PnL at the last mark (``analysis.analyze.whale_pnl``, NaN without a whale),
    their finished hunts, how many succeeded (target reached, closed at a profit), what they
    pushed and the forced flow (stops and liquidations) they set off; whether every invariant
    check passed; then
    ``analysis.stylized_facts.stylized_facts`` with the run's own interest rate
    (``analysis.analyze.recorded_exchange``).
    """
    series, liq, funding = result.series, result.liquidations, result.funding
    row: dict[str, Any] = {}
    notional = liq["qty"] * liq["fill_price"]
    for side, name in ((1, "long"), (-1, "short")):
        mask = liq["side"] == side
        row[f"liq_{name}_count"] = int(mask.sum())
        row[f"liq_{name}_notional_usd"] = float(notional[mask].sum())
    cascade = largest_cascade(liq)
    row["cascade_count"] = cascade["count"] if cascade is not None else 0
    row["cascade_notional_usd"] = cascade["notional"] if cascade is not None else 0.0
    oi = series["oi"].dropna()
    row["oi_start"] = float(oi.iloc[0]) if len(oi) else math.nan
    row["oi_end"] = float(oi.iloc[-1]) if len(oi) else math.nan
    row["oi_change"] = row["oi_end"] - row["oi_start"]
    row["oi_change_pct"] = (100.0 * row["oi_change"] / row["oi_start"] if row["oi_start"] > 0
                            else math.nan)
    last = series["last"].dropna()
    row["price_change_pct"] = (100.0 * (last.iloc[-1] / last.iloc[0] - 1.0) if len(last)
                               else math.nan)
    rates = funding["rate"]
    row["funding_settlements"] = len(rates)
    row["funding_mean"] = float(rates.mean()) if len(rates) else math.nan
    row["funding_min"] = float(rates.min()) if len(rates) else math.nan
    row["funding_max"] = float(rates.max()) if len(rates) else math.nan
    row["whale_pnl_usd"] = whale_pnl(result.accounts, series)
    hunts = result.hunts
    row["whale_hunts"] = len(hunts)
    row["whale_hunts_succeeded"] = int(hunts["success"].sum())
    row["whale_pushed_usd"] = float(hunts["pushed_notional"].sum())
    row["whale_forced_usd"] = float(hunts["forced_notional"].sum())
    row["whale_hunts_pnl_usd"] = float(hunts["pnl"].sum())
    row["invariants_passed"] = bool(result.manifest.get("invariants", {}).get("all_passed"))
    with warnings.catch_warnings():
        # A short run has too few 1-minute returns for some facts: NaN is the answer there.
        warnings.simplefilter("ignore", RuntimeWarning)
        facts = stylized_facts(series, funding, result.heatmap,
                               interest_rate=recorded_exchange(result.manifest)["interest_rate"])
    row.update({k: v for k, v in facts.items() if k not in row})
    return row


def simulate_run(scenario: Scenario, run_dir: str) -> dict[str, Any]:
    """Run ``scenario``, write its run directory and return its row; never raises.

    Returns:
        ``status`` (``"ok"`` or ``"error"``), ``error`` (the exception's type, message and
        the last line of its traceback; None when ok), ``wall_s`` (seconds for the run, its
        metrics and the write) and, when ok, ``run_metrics``. The directory is written only
        after the metrics are computed, so a failing run leaves nothing behind.
    """
    started = time.perf_counter()
    try:
        result = run(scenario)
        row = run_metrics(result)
        result.write(run_dir)
    except Exception as exc:  # noqa: BLE001 - a failed run is a row, and the sweep goes on
        return {"status": ERROR, "error": describe_error(exc),
                "wall_s": time.perf_counter() - started}
    return {"status": OK, "error": None, "wall_s": time.perf_counter() - started, **row}


def describe_error(exc: BaseException) -> str:
    """Return ``Type: message (at file:line in function)`` for a row's error column."""
    where = traceback.extract_tb(exc.__traceback__)
    at = f" (at {Path(where[-1].filename).name}:{where[-1].lineno} in {where[-1].name})" if (
        where) else ""
    return f"{type(exc).__name__}: {exc}{at}"


def metrics_of_run_dir(run_dir: str | Path) -> dict[str, Any]:
    """Return the row of a run already on disk (``run_metrics`` of the loaded run)."""
    result = RunResult.load(run_dir)
    # The simulation's own seconds: the write and the metrics of the first attempt are lost.
    wall_s = float(result.manifest.get("wall_seconds", math.nan))
    return {"status": OK, "error": None, "wall_s": wall_s, **run_metrics(result)}


def existing_run(run_dir: str | Path, sha256: str) -> bool:
    """Return whether ``run_dir`` holds the finished run of the scenario with ``sha256``.

    False when it does not exist or is an empty directory (the run is still to do).

    Raises:
        RunDirError: it holds a run of another scenario, or something that is not a run.
    """
    run_dir = Path(run_dir)
    manifest = run_dir / "manifest.json"
    if manifest.is_file():
        try:
            found = json.loads(manifest.read_text()).get("scenario_sha256")
        except (OSError, ValueError):
            found = None
        if found != sha256:
            raise RunDirError(f"{run_dir}: holds a run of other settings (scenario sha256 "
                              f"{found}, expected {sha256}); use another --out")
        return True
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise RunDirError(f"{run_dir}: exists and is not a run directory")
    return False


def clear_partial_write(run_dir: str | Path) -> None:
    """Remove what a killed ``RunResult.write`` of ``run_dir`` left: its temporary siblings
    (``.<name>.*``). Only for a run no other process is writing."""
    run_dir = Path(run_dir)
    if run_dir.parent.is_dir():
        for leftover in run_dir.parent.glob(f".{run_dir.name}.*"):
            shutil.rmtree(leftover, ignore_errors=True)


__all__ = ["ERROR", "OK", "RunDirError", "clear_partial_write", "describe_error",
           "existing_run", "metrics_of_run_dir", "run_metrics", "simulate_run"]
