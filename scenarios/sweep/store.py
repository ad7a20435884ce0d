"""The sweep directory on disk: its identity, one row file per run, and the combined tables.

Layout::

    DIR/sweep.json                  the resolved sweep and its sha256 (the sweep's identity)
    DIR/points.parquet              point id and its value at every swept key path
    DIR/runs/p<point>-r<rep>/       one ordinary run directory per run (written atomically)
    DIR/rows/p<point>-r<rep>.json   the run's row (status, error, wall_s, headline metrics)
    DIR/combined/summary.*          one row per run (Parquet and CSV)
    DIR/combined/points_summary.*   per point: runs, ok runs, the mean of every metric

Every file is written to a temporary sibling and renamed into place, so a reader (or a
sweep killed mid-write) never sees half a file. Rows are files of their own so that shards
of one sweep can write into the same directory at once; the combined tables are rebuilt
from whatever rows exist.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from scenarios.schema import Scenario, SweepSpec

SWEEP_FILE = "sweep.json"
IDENTITY_KEYS = ("scenario", "sweep")
ROW_IDENTITY = ("run_id", "point", "replicate", "seed", "status", "error", "wall_s")


class SweepDirError(ValueError):
    """The output directory holds something other than this sweep; the message says what."""


def canonical_json(value: Any) -> str:
    """Return ``value`` as JSON with sorted keys and no whitespace (mapping keys as text)."""
    return json.dumps(_text_keys(value), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False)


def _text_keys(value: Any) -> Any:
    # JSON writes 5 and "5" as the same key; converting first keeps mixed keys sortable.
    if isinstance(value, Mapping):
        return {str(k): _text_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_text_keys(v) for v in value]
    return value


def sweep_identity(base: Scenario, spec: SweepSpec) -> dict[str, Any]:
    """Return what makes a sweep the same sweep: the resolved base scenario (without its
    seed, which every run replaces) and the resolved sweep block, with their sha256."""
    scenario = base.resolved()
    scenario.pop("seed")
    body = json.loads(canonical_json({"scenario": scenario,
                                      "sweep": spec.model_dump(mode="json")}))
    return {**body, "sha256": hashlib.sha256(canonical_json(body).encode()).hexdigest()}


def differences(old: Any, new: Any, path: str = "") -> Iterator[str]:
    """Yield ``key.path: old -> new`` for every leaf that differs between two JSON values."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            where = f"{path}.{key}" if path else str(key)
            if key not in old:
                yield f"{where}: added ({_brief(new[key])})"
            elif key not in new:
                yield f"{where}: removed (was {_brief(old[key])})"
            else:
                yield from differences(old[key], new[key], where)
    elif old != new:
        yield f"{path or '(top level)'}: {_brief(old)} -> {_brief(new)}"


def _brief(value: Any, width: int = 60) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= width else text[: width - 3] + "..."


def check_sweep_dir(out: Path, identity: Mapping[str, Any]) -> bool:
    """Return whether ``out`` already holds this sweep (False: absent or empty).

    Raises:
        SweepDirError: it holds another sweep (the message lists what changed), or it is
            neither empty nor a sweep directory.
    """
    if not out.exists():
        return False
    if not out.is_dir():
        raise SweepDirError(f"{out}: exists and is not a directory")
    found_file = out / SWEEP_FILE
    if not found_file.is_file():
        if any(out.iterdir()):
            raise SweepDirError(f"{out}: exists, is not empty and holds no {SWEEP_FILE}; "
                                f"choose another --out")
        return False
    try:
        found = json.loads(found_file.read_text())
    except (OSError, ValueError) as exc:
        raise SweepDirError(f"{found_file}: cannot be read: {exc}") from None
    if found.get("sha256") == identity["sha256"]:
        return True
    changes = [line for key in IDENTITY_KEYS
               for line in differences(found.get(key), identity[key], key)]
    shown = "\n  ".join(changes[:20]) + (f"\n  ... and {len(changes) - 20} more"
                                        if len(changes) > 20 else "")
    raise SweepDirError(f"{out}: holds another sweep; rerun it as it was or choose another "
                        f"--out. What changed:\n  {shown or '(the sweep hash only)'}")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary sibling renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(table: pd.DataFrame, path_stem: Path, csv: bool = True) -> list[Path]:
    """Write ``table`` as ``<stem>.parquet`` (and ``.csv``), each atomically; return the paths."""
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix in (".parquet", ".csv") if csv else (".parquet",):
        target = path_stem.with_suffix(suffix)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(fd)
        try:
            if suffix == ".parquet":
                table.to_parquet(tmp, index=False)
            else:
                table.to_csv(tmp, index=False)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(target)
    return written


def row_path(out: Path, run_id: str) -> Path:
    """Return where a run's row file lives."""
    return out / "rows" / f"{run_id}.json"


def write_row(out: Path, run_id: str, sha256: str, row: Mapping[str, Any]) -> None:
    """Store a run's row (status, error, wall_s, metrics) with the run's scenario sha256."""
    write_atomic(row_path(out, run_id), json.dumps({"sha256": sha256, **row}, default=float)
                 + "\n")


def read_row(out: Path, run_id: str, sha256: str) -> dict[str, Any] | None:
    """Return a run's stored row, or None when there is none for this scenario sha256."""
    try:
        row = json.loads(row_path(out, run_id).read_text())
    except (OSError, ValueError):
        return None
    return row if row.pop("sha256", None) == sha256 else None


def value_column(values: Sequence[Any]) -> list[Any]:
    """Return a swept key's values as one table column: numbers, text and booleans as they
    are (a column of one kind, ints and floats together), anything else as JSON text in the
    order it was written."""
    kinds = {type(v) for v in values}
    plain = kinds <= {int, float} or (len(kinds) == 1 and kinds <= {bool, str})
    return list(values) if plain else [json.dumps(_text_keys(v), separators=(",", ":"),
                                                  ensure_ascii=False) for v in values]


def points_table(keys: Sequence[str], points: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Return one row per point: ``point`` and one column per swept key path."""
    table = pd.DataFrame({"point": range(len(points))})
    for key in keys:
        table[key] = value_column([p[key] for p in points])
    return table


def summary_table(identity_rows: Sequence[Mapping[str, Any]], points: pd.DataFrame,
                  rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Return one row per run: ``ROW_IDENTITY``, the point's swept values, then the metrics.

    ``identity_rows`` give each run's ``run_id, point, replicate, seed``; ``rows`` the
    matching stored rows (status, error, wall_s, metrics). Sorted by point and replicate.
    """
    records = [{**ident, **row} for ident, row in zip(identity_rows, rows, strict=True)]
    table = pd.DataFrame.from_records(records) if records else pd.DataFrame(
        columns=list(ROW_IDENTITY))
    for column in ROW_IDENTITY:
        if column not in table:
            table[column] = None
    metrics = [c for c in table.columns if c not in ROW_IDENTITY]
    table = table[list(ROW_IDENTITY) + metrics]
    table = table.merge(points, on="point", how="left", validate="many_to_one")
    order = [*ROW_IDENTITY, *[c for c in points.columns if c != "point"], *metrics]
    table = table[order].sort_values(["point", "replicate"], kind="stable")
    return table.reset_index(drop=True)


def points_summary_table(summary: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """Return per point: its swept values, ``n_runs`` (rows), ``n_ok`` (runs that finished)
    and ``<metric>_mean`` over the ok runs of every numeric metric (and of ``wall_s``)."""
    keys = [c for c in points.columns if c != "point"]
    ok = summary[summary["status"] == "ok"]
    numeric = [c for c in summary.columns
               if c not in (*ROW_IDENTITY, *keys) or c == "wall_s"]
    numeric = [c for c in numeric if pd.api.types.is_numeric_dtype(summary[c])
               or pd.api.types.is_bool_dtype(summary[c])]
    counts = pd.DataFrame({
        "point": points["point"],
        "n_runs": points["point"].map(summary.groupby("point").size()).fillna(0).astype(int),
        "n_ok": points["point"].map(ok.groupby("point").size()).fillna(0).astype(int)})
    means = ok.groupby("point")[numeric].mean(numeric_only=False) if numeric else None
    table = points.merge(counts, on="point")
    if means is not None:
        means = means.astype(float).add_suffix("_mean").reset_index()
        table = table.merge(means, on="point", how="left")
    return table[table["n_runs"] > 0].reset_index(drop=True)


__all__ = ["ROW_IDENTITY", "SWEEP_FILE", "SweepDirError", "canonical_json",
           "check_sweep_dir", "differences", "points_summary_table", "points_table",
           "read_row", "row_path", "summary_table", "sweep_identity", "value_column",
           "write_atomic", "write_row", "write_table"]
