"""Real 1-minute klines and funding rates: read and check a file in Binance's layout.

Two layouts are accepted, told apart by the first line:

- with a header naming the columns, e.g. the shared week
  (``open_time_ms, open_time_utc, open, high, low, close, volume``) or Binance's newer
  archives (``open_time, open, high, low, close, volume, close_time, ...``): the time column
  is ``open_time_ms`` or ``open_time``, the price column ``close``;
- without a header, Binance's raw kline files: 12 columns, ``open_time, open, high, low,
  close, volume, close_time, quote_volume, count, taker_buy_volume, taker_buy_quote_volume,
  ignore`` (Binance's 'Kline/Candlestick Data' page).

A funding file (:func:`read_funding`) is a CSV with a header naming a ``funding_rate``
column (the shared four years' layout) or ``fundingRate`` (Binance's 'Get Funding Rate
History' field), one settlement per row, rates as fractions (0.0001 is 0.01 %).

Open times are epoch milliseconds (microseconds, as in Binance's spot archives since 2025,
are recognized by their size). The bars must be strictly increasing and a whole number of
minutes apart; missing minutes are counted as gaps, never bridged: the return across a gap
is dropped (NaN in :func:`kline_log_returns`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

BINANCE_RAW_COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "close_time",
                       "quote_volume", "count", "taker_buy_volume", "taker_buy_quote_volume",
                       "ignore")
TIME_COLUMNS = ("open_time_ms", "open_time")
BAR_MS = 60_000
_MICROSECONDS_ABOVE = 10**14
"""Open times above this are microseconds: 1e14 ms is the year 5138, 1e14 us is 1973."""


class KlineFileError(ValueError):
    """A kline or funding file that cannot be read or fails a check; the message names the
    file."""


FUNDING_COLUMNS = ("funding_rate", "fundingrate")
"""The rate column of a funding file, lower-cased: the shared file's, Binance's."""


@dataclass(frozen=True)
class Klines:
    """The checked closes of a kline file."""

    path: Path
    open_time_ms: np.ndarray
    """Bar open times, epoch milliseconds, strictly increasing."""
    close: np.ndarray
    n_gaps: int
    """Places where one or more minutes are missing."""
    n_missing_bars: int

    @property
    def name(self) -> str:
        """Return the file's name (no folder), as the comparison table shows it."""
        return self.path.name


def read_klines(path: str | Path) -> Klines:
    """Return the checked closes of the 1-minute kline CSV at ``path``.

    Raises:
        KlineFileError: the file is missing or unreadable, lacks a time or close column, has
            a non-numeric or non-positive close or time, unsorted or duplicate times, bars not
            a whole number of minutes apart, or fewer than two bars.
    """
    path = Path(path)
    fail = _failure(path)
    frame, has_header = _read_csv(path, fail, detect_header=True)
    if has_header:
        frame.columns = [str(c).strip().lower() for c in frame.columns]
        time_column = next((c for c in TIME_COLUMNS if c in frame.columns), None)
        if time_column is None:
            raise fail("no open time column (expected one of "
                       f"{', '.join(TIME_COLUMNS)}; found {', '.join(frame.columns)})")
        if "close" not in frame.columns:
            raise fail(f"no 'close' column (found {', '.join(frame.columns)})")
    else:
        if frame.shape[1] != len(BINANCE_RAW_COLUMNS):
            raise fail(f"no header and {frame.shape[1]} columns; a headerless file must have "
                       f"Binance's {len(BINANCE_RAW_COLUMNS)} kline columns")
        frame.columns = list(BINANCE_RAW_COLUMNS)
        time_column = "open_time"
    if len(frame) < 2:
        raise fail(f"{len(frame)} bar(s); at least two are needed for a return")

    first_data_line = 2 if has_header else 1
    open_time = _numeric_column(frame[time_column], time_column, first_data_line, fail)
    close = _numeric_column(frame["close"], "close", first_data_line, fail)
    if np.any(open_time != np.floor(open_time)) or np.any(open_time < 0):
        raise fail(f"'{time_column}' must hold non-negative whole epoch milliseconds")
    if np.any(close <= 0):
        line = first_data_line + int(np.argmax(close <= 0))
        raise fail(f"non-positive close on line {line}")
    open_time_ms = open_time.astype(np.int64)
    if open_time_ms.max() > _MICROSECONDS_ABOVE:
        open_time_ms = open_time_ms // 1000

    step = np.diff(open_time_ms)
    if np.any(step <= 0):
        line = first_data_line + 1 + int(np.argmax(step <= 0))
        what = "duplicate" if step[step <= 0][0] == 0 else "unsorted"
        raise fail(f"{what} open time on line {line}: times must be strictly increasing")
    if np.any(step % BAR_MS):
        line = first_data_line + 1 + int(np.argmax(step % BAR_MS != 0))
        raise fail(f"bar on line {line} is not a whole number of minutes after the one "
                   "before: not 1-minute klines")
    gaps = step > BAR_MS
    return Klines(path=path, open_time_ms=open_time_ms, close=close, n_gaps=int(gaps.sum()),
                  n_missing_bars=int((step[gaps] // BAR_MS - 1).sum()))


def read_funding(path: str | Path) -> np.ndarray:
    """Return the funding rates (fractions per interval) of the funding CSV at ``path``.

    Raises:
        KlineFileError: the file is missing or unreadable, has no rate column, no rows, or a
            rate that is not a finite number.
    """
    path = Path(path)
    fail = _failure(path)
    frame, _ = _read_csv(path, fail, detect_header=False)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    column = next((c for c in FUNDING_COLUMNS if c in frame.columns), None)
    if column is None:
        raise fail(f"no funding rate column (expected funding_rate or fundingRate; found "
                   f"{', '.join(frame.columns)})")
    if frame.empty:
        raise fail("no settlements")
    return _numeric_column(frame[column], column, 2, fail)


def kline_log_returns(klines: Klines) -> np.ndarray:
    """Return the 1-minute log returns of the closes; NaN for a return across a gap."""
    r = np.diff(np.log(klines.close))
    r[np.diff(klines.open_time_ms) != BAR_MS] = np.nan
    return r


def _failure(path: Path):
    """Return ``fail(problem)``: the error that names ``path`` and its problem."""
    def fail(problem: str) -> KlineFileError:
        return KlineFileError(f"{path}: {problem}")
    return fail


def _read_csv(path: Path, fail, *, detect_header: bool) -> tuple[pd.DataFrame, bool]:
    """Return the CSV at ``path`` as strings and whether its first line is a header (with
    ``detect_header``, unless its first field is a number; otherwise always). Raise
    ``fail(...)`` for a missing, unreadable or empty file."""
    if not path.is_file():
        raise fail("no such file")
    try:
        has_header = True
        if detect_header:
            with path.open(encoding="utf-8") as handle:
                first = handle.readline().strip()
            has_header = bool(first) and not _is_number(first.split(",")[0])
        frame = pd.read_csv(path, header=0 if has_header else None, dtype=str,
                            skipinitialspace=True)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise fail(f"cannot be read as CSV ({exc})") from None
    except pd.errors.EmptyDataError:
        raise fail("is empty") from None
    return frame, has_header


def _is_number(text: str) -> bool:
    try:
        float(text.strip().strip('"'))
    except ValueError:
        return False
    return True


def _numeric_column(values: pd.Series, name: str, first_line: int, fail) -> np.ndarray:
    numbers = pd.to_numeric(values.str.strip(), errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(numbers)
    if bad.any():
        i = int(np.argmax(bad))
        raise fail(f"non-numeric '{name}' {values.iloc[i]!r} on line {first_line + i}")
    return numbers
