"""Kit-lot shift from the standards (the ELISAtools idea, docs/domain.md section 7).

Lots differ in the true content of their standards. Fitting ONE 4PL to all plates of a lot family, with shared a, b, d
and a lot-specific inflection log c = log c_ref + S_lot (S_ref = 0), gives S_lot: how much higher a lot's curve, fitted
against nominal standard values, reads every sample. Correct with log C* = log C - S_lot.

Weighted least squares on relative residuals (1/y^2 weights, as `qc.curves`), Jacobian from `qc.models.FOUR_PL`.
Standard errors are cluster-robust by plate (sandwich), so plate-to-plate scatter of the curves counts as noise
instead of being treated as independent points.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from qc.models import FOUR_PL


@dataclass(frozen=True)
class LotShifts:
    """Per-lot shift S in natural-log concentration relative to `reference_lot`, with cluster-robust 95% CIs."""

    reference_lot: str
    shift: dict[str, float]
    stderr: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    n_plates: dict[str, int]
    params: dict[str, float]  # shared a, b, d and c of the reference lot
    converged: bool
    message: str
    ndata: int
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {
            "reference_lot": self.reference_lot,
            "shift": self.shift,
            "stderr": self.stderr,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n_plates": self.n_plates,
            "params": self.params,
            "converged": self.converged,
            "message": self.message,
            "ndata": self.ndata,
        }


def lot_shifts_from_standards(standards: pd.DataFrame, reference_lot: str | None = None, level: float = 0.95) -> LotShifts:
    """Fit the shared 4PL with per-lot log-c shifts.

    standards: one row per standard well with columns plate, kit_lot, x (nominal pg/mL, 0 for the zero standard)
    and y (blank-corrected OD). reference_lot: default the first lot in order of appearance.
    """
    missing = {"plate", "kit_lot", "x", "y"} - set(standards.columns)
    if missing:
        raise ValueError(f"standards: missing column(s) {', '.join(sorted(missing))}; expected plate, kit_lot, x, y.")
    d = standards[np.isfinite(standards["x"].to_numpy(float)) & np.isfinite(standards["y"].to_numpy(float))]
    lot_codes, lots = pd.factorize(d["kit_lot"])
    lots = [str(v) for v in lots]
    ref = lots[0] if reference_lot is None else str(reference_lot)
    if ref not in lots:
        raise ValueError(f"standards: reference lot '{ref}' has no standards; lots present: {', '.join(lots)}.")
    order = [ref] + [v for v in lots if v != ref]
    lot = np.array([order.index(lots[c]) for c in range(len(lots))])[lot_codes]
    plate = pd.factorize(d["plate"])[0]
    x, y = d["x"].to_numpy(float), d["y"].to_numpy(float)
    L = len(order)
    w = 1.0 / np.maximum(np.abs(y), 1e-3)

    a0, b0, c0, d0 = FOUR_PL.guess(x[lot == 0], y[lot == 0])[:4]
    theta0 = np.r_[a0, np.log(b0), np.log(c0), d0, np.zeros(L - 1)]

    def unpack(t: np.ndarray) -> tuple:
        logc = t[2] + np.r_[0.0, t[4:]][lot]
        return t[0], np.exp(t[1]), np.exp(logc), t[3]

    def resid(t: np.ndarray) -> np.ndarray:
        return (FOUR_PL.evaluate(x, unpack(t)) - y) * w

    def jac(t: np.ndarray) -> np.ndarray:
        a, b, c, dd = unpack(t)
        J = FOUR_PL.jacobian(x, (a, b, c, dd))
        dlogc = J[:, 2] * c
        cols = [J[:, 0], J[:, 1] * b, dlogc, J[:, 3]] + [dlogc * (lot == k) for k in range(1, L)]
        return np.column_stack(cols) * w[:, None]

    res = optimize.least_squares(resid, theta0, jac=jac, method="trf", x_scale="jac")
    J, r = jac(res.x), res.fun
    bread = np.linalg.pinv(J.T @ J)
    n_pl = plate.max() + 1
    scores = np.column_stack([np.bincount(plate, J[:, j] * r, n_pl) for j in range(J.shape[1])])
    G = n_pl
    meat = scores.T @ scores * (G / max(G - 1, 1))
    cov = bread @ meat @ bread
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    q = stats.t.ppf(0.5 + level / 2, max(G - 1, 1))
    shift = {order[0]: 0.0, **{order[k]: float(res.x[3 + k]) for k in range(1, L)}}
    stderr = {order[0]: 0.0, **{order[k]: float(se[3 + k]) for k in range(1, L)}}
    plates_per_lot = pd.Series(plate).groupby(lot).nunique()
    return LotShifts(
        reference_lot=ref,
        shift=shift,
        stderr=stderr,
        ci_low={k: float(v - q * stderr[k]) for k, v in shift.items()},
        ci_high={k: float(v + q * stderr[k]) for k, v in shift.items()},
        n_plates={order[k]: int(plates_per_lot.get(k, 0)) for k in range(L)},
        params={"a": float(res.x[0]), "b": float(np.exp(res.x[1])), "c": float(np.exp(res.x[2])), "d": float(res.x[3])},
        converged=bool(res.success),
        message=str(res.message),
        ndata=len(y),
    )
