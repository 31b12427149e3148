"""Westgard multirules on Levey-Jennings series (docs/domain.md section 6). Pure pandas/numpy: no database.

A series is a DataFrame with columns ``plate_id``, ``run_order`` (read time or any sortable key) and ``value``;
optional ``level`` (control level / pool name, for a *family* of series judged together) and ``run``
(which rows belong to one run; defaults to ``plate_id``). Each value becomes ``z = (value - mean) / sd`` against
its guide set; z is rounded to 9 decimals so a value of exactly mean + 2 SD is exactly 2.

Rule definitions (all comparisons strict, so exactly 2 SD is *not* beyond 2 SD):
- ``1-2s``  warning: |z| > 2 (not reported when the same value is a 1-3s).
- ``1-3s``  reject:  |z| > 3.
- ``2-2s``  reject:  two consecutive runs of one level with z > 2 both, or z < -2 both.
- ``R-4s``  reject:  within one run, one level with z > 2 and another with z < -2.
- ``4-1s``  reject:  four consecutive runs of one level with z > 1 all, or z < -1 all.
- ``10x``   reject:  ten consecutive runs of one level with z > 0 all, or z < 0 all (z == 0 breaks the run).
"Consecutive" means consecutive in run order within one level; 2-2s is not applied across levels of one run.
A value beyond 3 SD still counts in the windows of 2-2s, 4-1s and 10x (the rules as Westgard states them).
A window rule is reported once per run that completes it (a run of five beyond 1 SD gives two 4-1s violations),
on the newest plate of the window; ``plate_ids``/``values``/``z`` list every plate of the window, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

RULES = ("1-2s", "1-3s", "2-2s", "R-4s", "4-1s", "10x")
SEVERITY = {"1-2s": "warning", "1-3s": "reject", "2-2s": "reject", "R-4s": "reject", "4-1s": "reject", "10x": "reject"}
VIOLATION_COLUMNS = ["rule", "severity", "metric", "level", "plate_id", "plate_ids", "values", "z"]
# (rule, window length, |z| threshold): k consecutive values of one level all beyond the same side of threshold
_WINDOWS = (("2-2s", 2, 2.0), ("4-1s", 4, 1.0), ("10x", 10, 0.0))


@dataclass(frozen=True)
class GuideSet:
    """Target mean and SD of one metric (per kit lot and level), from ``n`` accepted runs or entered by a PI."""

    mean: float
    sd: float
    n: int

    @property
    def cv_pct(self) -> float:
        return float(100.0 * self.sd / self.mean) if self.mean else float("nan")

    def z(self, values) -> np.ndarray:
        if not (np.isfinite(self.sd) and self.sd > 0):
            raise ValueError(f"a guide set needs a positive SD, got {self.sd!r}")
        return np.round((np.asarray(values, dtype=float) - self.mean) / self.sd, 9)


def guide_set_from(values: pd.DataFrame | pd.Series, n: int = 20) -> GuideSet:
    """Mean and SD (n - 1) of the first ``n`` values in run order; ``GuideSet.n`` says how many there were."""
    if isinstance(values, pd.DataFrame):
        values = values.sort_values(["run_order", "plate_id"], kind="stable")["value"]
    head = pd.Series(values, dtype=float).dropna().iloc[:n]
    sd = float(head.std(ddof=1)) if len(head) > 1 else float("nan")
    return GuideSet(float(head.mean()) if len(head) else float("nan"), sd, len(head))


def summary(values: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """n, mean, SD (n - 1) and CV % of ``value`` per group (e.g. metric, kit lot, level)."""
    by = by or ["metric"]
    grouped = values.dropna(subset=["value"]).groupby(by, dropna=False, sort=True)["value"]
    out = grouped.agg(n="count", mean="mean", sd="std").reset_index()
    out["cv_pct"] = 100.0 * out["sd"] / out["mean"].where(out["mean"] != 0)
    return out


def evaluate_rules(values: pd.DataFrame, guide: GuideSet | None = None, metric: str = "") -> pd.DataFrame:
    """Westgard violations of one metric family, in run order then rule order (see the module docstring).

    With ``guide``, z is computed from ``value``; without it, ``values`` must already carry a ``z`` column
    (each level judged against its own guide set). Rows whose z is NaN (no guide set yet) are not judged.
    """
    df = values.copy()
    if guide is not None:
        df["z"] = guide.z(df["value"])
    elif "z" not in df:
        raise ValueError("evaluate_rules needs a guide set or a 'z' column")
    if "level" not in df:
        df["level"] = ""
    if "run" not in df:
        df["run"] = df["plate_id"]
    df["level"] = df["level"].fillna("").astype(str)
    df = df[np.isfinite(df["z"].astype(float))].sort_values(["run_order", "plate_id", "level"], kind="stable")
    found: list[dict] = []

    def add(rule: str, rows: dict[str, np.ndarray], idx: slice | list[int], level: str) -> None:
        """One violation from positions `idx` of the columns in `rows` (numpy arrays: plain indexing is cheap)."""
        plate, value, zs, order = (rows[c][idx] for c in ("plate_id", "value", "z", "run_order"))
        found.append(
            {
                "rule": rule,
                "severity": SEVERITY[rule],
                "metric": metric,
                "level": level,
                "plate_id": plate[-1],
                "plate_ids": plate.tolist(),
                "values": [float(v) for v in value],
                "z": [float(v) for v in zs],
                "_order": (order[-1], plate[-1], RULES.index(rule), level),
            }
        )

    def arrays(frame: pd.DataFrame) -> dict[str, np.ndarray]:
        return {
            "plate_id": frame["plate_id"].to_numpy(),
            "value": frame["value"].to_numpy(dtype=float),
            "z": frame["z"].to_numpy(dtype=float),
            "run_order": frame["run_order"].to_numpy(),
            "level": frame["level"].to_numpy(dtype=object),
        }

    for level, series in df.groupby("level", sort=True):
        rows = arrays(series)
        z = rows["z"]
        for i in range(len(z)):
            if abs(z[i]) > 3:
                add("1-3s", rows, slice(i, i + 1), level)
            elif abs(z[i]) > 2:
                add("1-2s", rows, slice(i, i + 1), level)
            for rule, k, limit in _WINDOWS:
                if i + 1 >= k:
                    w = z[i + 1 - k : i + 1]
                    if (w > limit).all() or (w < -limit).all():
                        add(rule, rows, slice(i + 1 - k, i + 1), level)
    for _, run in df.groupby("run", sort=False):
        if len(run) > 1 and run["z"].max() > 2 and run["z"].min() < -2:
            rows = arrays(run)
            pair = [int(np.argmin(rows["z"])), int(np.argmax(rows["z"]))]
            add("R-4s", rows, pair, "|".join(rows["level"][pair]))
    if not found:
        return pd.DataFrame(columns=VIOLATION_COLUMNS)
    found.sort(key=lambda v: v["_order"])
    return pd.DataFrame(found).drop(columns="_order")[VIOLATION_COLUMNS]
