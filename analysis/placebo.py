"""Placebo maps: heatmaps that know nothing of the path they are laid on.

A statistic about clusters is trusted only where it reads "no effect" on maps built to carry
no information about the price path. Two such maps, as in DESIGN.md:

- **another run's map** (a swapped map): run k of a group analysed with the true map of run
  k + 1 of the same group (cyclically), on the same grid. Both runs start at the same price
  and share the scenario, so the clusters have the same sizes, sides and distances as real
  ones, but they were formed by another path;
- **the run's own map shifted in time**, when a group has one run or the grids differ: the
  snapshots rolled by half the run, so each cluster is laid on a stretch of path it did not
  come from.

The analysis runs every test on the placebo map beside the real ones (``map == "placebo"``
in every table), so a user sees on their own runs whether the test reads 1 where it must.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def placebo_partners(groups: Sequence[str]) -> list[int | None]:
    """Return, per run, the index of the run whose map it gets: the next run of its group,
    cyclically; None for a group of one run (it gets its own map shifted in time)."""
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    out: list[int | None] = []
    for i, g in enumerate(groups):
        ring = members[g]
        out.append(None if len(ring) < 2 else ring[(ring.index(i) + 1) % len(ring)])
    return out


def shifted_map(heatmap: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return the map with its snapshots rolled by half their number (the times stay)."""
    n = len(heatmap["t"])
    return {"t": np.asarray(heatmap["t"]).copy(),
            "price_edges": np.asarray(heatmap["price_edges"]).copy(),
            "long": np.roll(np.asarray(heatmap["long"]), n // 2, axis=0),
            "short": np.roll(np.asarray(heatmap["short"]), n // 2, axis=0)}


def placebo_map(own: Mapping[str, np.ndarray], other: Mapping[str, np.ndarray] | None = None,
                other_label: str = "another run") -> tuple[dict[str, np.ndarray], str]:
    """Return the placebo map for a run and a description of where it came from.

    ``other``'s snapshots replace the run's own when the two maps share the price grid and
    the number of snapshots; otherwise (or without ``other``) the run's own map is shifted
    by half the run (:func:`shifted_map`).
    """
    if other is not None:
        same_grid = np.array_equal(np.asarray(own["price_edges"]),
                                   np.asarray(other["price_edges"]))
        if same_grid and len(other["t"]) == len(own["t"]):
            return ({"t": np.asarray(own["t"]).copy(),
                     "price_edges": np.asarray(own["price_edges"]).copy(),
                     "long": np.asarray(other["long"]).copy(),
                     "short": np.asarray(other["short"]).copy()},
                    f"the true map of {other_label}")
    t = np.asarray(own["t"], dtype=np.float64)
    span_h = (t[-1] - t[0]) / 2.0 / 3600.0 if len(t) > 1 else 0.0
    return shifted_map(own), f"its own true map shifted by {span_h:.3g} h"


__all__ = ["placebo_map", "placebo_partners", "shifted_map"]
