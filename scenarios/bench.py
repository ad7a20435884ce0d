"""``liqsim bench``: how fast the exchange core is, measured on fixed workloads.

Every workload is generated from a fixed seed, so two runs do the same work, and each one
checks the state it reaches (the kernel and the Python API must end in identical states; the
invariants must hold), so a fast wrong result cannot pass for a fast right one.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
from numba import njit

from sim.exchange import Exchange, ExchangeConfig
from sim.exchange import layouts as lay
from sim.exchange.accounts import trade
from sim.exchange.codes import BUY, LIMIT, MARKET, SELL
from sim.exchange.engine import run_messages
from sim.exchange.layouts import (
    M_N_ASKS,
    M_N_BIDS,
    M_VOLUME,
    MSG_ACCOUNT,
    MSG_OP,
    MSG_PRICE,
    MSG_QTY,
    MSG_SIDE,
    N_MSG_FIELDS,
    OP_CANCEL,
    OP_SUBMIT_LIMIT,
    OP_SUBMIT_MARKET,
)
from sim.exchange.warmup import exercise_all_kernels

STREAM_SEED = 20_261_123
STREAM_MESSAGES = 1_000_000
STREAM_ACCOUNTS = 1_000
MID_TICKS = 1_000_000  # 100,000 USD at a 0.1 tick


def message_stream(n: int = STREAM_MESSAGES, seed: int = STREAM_SEED) -> np.ndarray:
    """Return the benchmark's order-message stream (``run_messages`` layout).

    55% limit orders (10% of them priced through a 1,000,000-tick mid, so marketable), 35%
    cancels, 10% market orders; 1 to 10 lots from 1,000 accounts. A cancel names one of the
    1,000 most recent passive limit orders not yet named by an earlier cancel (it may have
    been filled since, as in real order flow); the canceller is the order's owner.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    msgs = np.zeros((n, N_MSG_FIELDS), dtype=np.int64)
    u = rng.random(n)
    op = np.where(u < 0.55, OP_SUBMIT_LIMIT, np.where(u < 0.90, OP_CANCEL, OP_SUBMIT_MARKET))
    side = np.where(rng.random(n) < 0.5, BUY, SELL)
    marketable = rng.random(n) < 0.10
    offset = 1 + rng.geometric(0.08, size=n)  # passive distance from the mid, in ticks
    through = rng.integers(1, 6, size=n)  # how far a marketable limit reaches past the mid
    price = np.where(marketable, MID_TICKS + side * through, MID_TICKS - side * offset)
    msgs[:, MSG_OP] = op
    msgs[:, MSG_ACCOUNT] = rng.integers(0, STREAM_ACCOUNTS, size=n)
    msgs[:, MSG_SIDE] = side
    msgs[:, MSG_QTY] = rng.integers(1, 11, size=n)
    msgs[:, MSG_PRICE] = np.where(op == OP_SUBMIT_LIMIT, price, 0)
    picks = rng.random(n)
    live: list[int] = []
    for i in range(n):
        if op[i] == OP_SUBMIT_LIMIT and not marketable[i]:
            live.append(i)
        elif op[i] == OP_CANCEL:
            if not live:
                msgs[i, MSG_OP] = OP_SUBMIT_MARKET
                continue
            window = min(len(live), 1_000)
            j = len(live) - 1 - int(picks[i] * window)
            target = live[j]
            live[j] = live[-1]
            live.pop()
            msgs[i, MSG_PRICE] = target
            msgs[i, MSG_ACCOUNT] = msgs[target, MSG_ACCOUNT]
    return msgs


def _stream_exchange() -> Exchange:
    ex = Exchange(ExchangeConfig(), account_capacity=STREAM_ACCOUNTS)
    ex.open_accounts(STREAM_ACCOUNTS, wallet=1e9, leverage=10)
    ex.begin_step(1.0, 100_000.0)
    return ex


def run_stream_kernel(msgs: np.ndarray) -> tuple[Exchange, np.ndarray, float]:
    """Run the stream inside ``run_messages``; return (exchange, statuses, seconds)."""
    ex = _stream_exchange()
    book = ex.book
    order_ids = np.zeros(len(msgs), dtype=np.int64)
    statuses = np.zeros(len(msgs), dtype=np.int64)
    start = 0
    t0 = time.perf_counter()
    while True:
        start, status = run_messages(
            book.orders, book.levels, book.meta, book.owner, book.fills, book.stops,
            ex.acct_f, ex.acct_i, ex.ex_f, ex.ex_i, msgs, order_ids, statuses, start,
        )
        if status == 0:
            break
        book.grow(status, int(msgs[start, MSG_PRICE]))
    return ex, statuses, time.perf_counter() - t0


def run_stream_python(msgs: np.ndarray) -> tuple[Exchange, np.ndarray, float]:
    """Run the stream one message at a time through ``Exchange.submit`` / ``cancel``."""
    ex = _stream_exchange()
    rows = msgs.tolist()
    order_ids = [0] * len(rows)
    statuses = [0] * len(rows)
    submit, cancel, drain = ex.submit, ex.cancel, ex.book.drain_fills
    kinds = {OP_SUBMIT_LIMIT: LIMIT, OP_SUBMIT_MARKET: MARKET}
    t0 = time.perf_counter()
    for i, (op, account, side, qty, price) in enumerate(rows):
        if op == OP_CANCEL:
            statuses[i] = cancel(account, order_ids[price])
        else:
            status, order_ids[i], filled, _ = submit(account, side, kinds[op], qty, price)
            statuses[i] = status
            if filled:
                drain()
    elapsed = time.perf_counter() - t0
    return ex, np.array(statuses, dtype=np.int64), elapsed


@njit(cache=True)
def _open_pairs(acct_f, acct_i, ex_f, ex_i, entries, leverages):
    """Give account 2k a long and account 2k+1 a short of 10 lots at entries[k]."""
    for k in range(entries.shape[0]):
        acct_f[2 * k, lay.A_LEVERAGE] = leverages[k]
        acct_f[2 * k + 1, lay.A_LEVERAGE] = leverages[k]
        trade(acct_f, acct_i, ex_f, ex_i, 2 * k, 10, entries[k], 0.0)
        trade(acct_f, acct_i, ex_f, ex_i, 2 * k + 1, -10, entries[k], 0.0)


def liquidation_check_us(n_positions: int, repeats: int = 20_000) -> float:
    """Return microseconds per ``settle()`` with ``n_positions`` open and nothing triggering."""
    ex = Exchange(ExchangeConfig(), account_capacity=n_positions)
    ex.open_accounts(n_positions, wallet=1e6, leverage=10)
    rng = np.random.default_rng(np.random.SeedSequence(STREAM_SEED + n_positions))
    pairs = n_positions // 2
    entries = 100_000.0 * (1 + rng.uniform(-0.001, 0.001, size=pairs))
    leverages = rng.choice(np.array([5.0, 10.0, 25.0, 50.0]), size=pairs)
    _open_pairs(ex.acct_f, ex.acct_i, ex.ex_f, ex.ex_i, entries, leverages)
    # Isolated margin of each position is notional / leverage: far from 100,000 for all.
    ex.begin_step(1.0, 100_000.0)
    first = ex.settle()
    if first.liquidations:
        raise RuntimeError("liquidation benchmark set-up triggered a liquidation")
    t0 = time.perf_counter()
    for _ in range(repeats):
        ex.settle()
    elapsed = time.perf_counter() - t0
    if ex.open_interest != pairs * 10 or not ex.invariants()["long_oi_equals_short_oi"]:
        raise RuntimeError("liquidation benchmark changed the positions")
    return elapsed / repeats * 1e6


_WARMUP = """
import time
t0 = time.perf_counter()
from sim.exchange.warmup import exercise_all_kernels
exercise_all_kernels()
print(time.perf_counter() - t0)
"""


def numba_compile_times() -> tuple[float, float]:
    """Return (cold compile, cached load) seconds, each from a fresh interpreter."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        times = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", _WARMUP], env=env, cwd=root,
                                 capture_output=True, text=True, check=True)
            times.append(float(out.stdout.strip().splitlines()[-1]))
    return times[0], times[1]


def end_to_end(scenario: str = "bench_day") -> dict:
    """Run a whole scenario; return its simulated seconds per wall second and its checks."""
    from scenarios.runner import run

    result = run(scenario)
    m = result.manifest
    if not m["invariants"]["all_passed"]:
        raise RuntimeError(f"invariants failed in {scenario}: {m['invariants']['failures']}")
    return {"scenario": scenario, "simulated_seconds": m["simulated_seconds"],
            "wall_seconds": m["wall_seconds"], "order_messages": m["order_messages"],
            "liquidations": len(result.liquidations), "trades": len(result.trades),
            "invariants_passed": True}


def run_bench() -> dict:
    """Run every benchmark; return the figures and the checks they passed."""
    cold, cached = numba_compile_times()
    exercise_all_kernels()  # this process's own cache load, kept out of the timings
    msgs = message_stream()
    ex_k, st_k, t_kernel = run_stream_kernel(msgs)
    ex_p, st_p, t_python = run_stream_python(msgs)
    same_state = (np.array_equal(st_k, st_p)
                  and np.array_equal(ex_k.acct_f, ex_p.acct_f, equal_nan=True)
                  and np.array_equal(ex_k.acct_i, ex_p.acct_i)
                  and np.array_equal(ex_k.book.levels, ex_p.book.levels))
    invariants = ex_k.invariants()
    if not same_state:
        raise RuntimeError("kernel and Python API ended the stream in different states")
    if not (invariants["money_conserved"] and invariants["long_oi_equals_short_oi"]
            and invariants["book_not_crossed"] and invariants["no_negative_resting_qty"]):
        raise RuntimeError(f"invariants failed after the stream: {invariants}")
    ops = msgs[:, MSG_OP]
    e2e = end_to_end()
    return {
        "book_kernel_msgs_per_s": round(len(msgs) / t_kernel),
        "book_python_msgs_per_s": round(len(msgs) / t_python),
        "liq_check_us_10k": round(liquidation_check_us(10_000), 3),
        "liq_check_us_1m": round(liquidation_check_us(1_000_000), 3),
        "numba_cold_compile_s": round(cold, 2),
        "numba_cached_load_s": round(cached, 2),
        "e2e_sim_seconds_per_wall_second": round(e2e["simulated_seconds"] / e2e["wall_seconds"]),
        "e2e": e2e,
        "stream": {
            "messages": len(msgs),
            "limits": int((ops == OP_SUBMIT_LIMIT).sum()),
            "cancels": int((ops == OP_CANCEL).sum()),
            "markets": int((ops == OP_SUBMIT_MARKET).sum()),
            "rejected": int((st_k != 0).sum()),
            "lots_traded": int(ex_k.book.meta[M_VOLUME]),
            "resting_orders_at_end": int(ex_k.book.meta[M_N_BIDS] + ex_k.book.meta[M_N_ASKS]),
            "open_interest_lots_at_end": ex_k.open_interest,
            "kernel_and_python_states_identical": same_state,
            "invariants": {k: v for k, v in invariants.items() if k != "money_drift_usd"},
        },
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
    }


def format_report(figures: dict) -> str:
    """Return the benchmark figures as a short table."""
    targets = {
        "book_kernel_msgs_per_s": (">=", 5_000_000),
        "book_python_msgs_per_s": (">=", 300_000),
        "liq_check_us_10k": ("", None),
        "liq_check_us_1m": ("<=", 20),
        "numba_cold_compile_s": ("", None),
        "numba_cached_load_s": ("<=", 2),
        "e2e_sim_seconds_per_wall_second": (">=", 1_440),
    }
    lines = [f"{'figure':<26}{'measured':>16}  target"]
    for key, (op, target) in targets.items():
        value = figures[key]
        goal = f"{op} {target:,}" if target is not None else ""
        lines.append(f"{key:<26}{value:>16,}  {goal}")
    s = figures["stream"]
    lines.append(f"stream: {s['messages']:,} messages ({s['limits']:,} limits, "
                 f"{s['cancels']:,} cancels, {s['markets']:,} markets), {s['rejected']:,} "
                 f"rejected, {s['lots_traded']:,} lots traded; kernel and Python states "
                 f"identical: {s['kernel_and_python_states_identical']}")
    e = figures["e2e"]
    lines.append(f"end to end: {e['scenario']}, {e['simulated_seconds']:,.0f} simulated s in "
                 f"{e['wall_seconds']:,.1f} s wall, {e['order_messages']:,} order messages, "
                 f"{e['liquidations']:,} liquidations")
    return "\n".join(lines)


def main(as_json: bool) -> None:
    """Run the benchmarks and print them."""
    figures = run_bench()
    print(json.dumps(figures, indent=2) if as_json else format_report(figures))
