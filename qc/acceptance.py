"""One plate's QC: fit the standards, judge calibrators and kit controls, interpolate and censor results.

Defaults follow docs/domain.md section 5 (ICH M10 ligand-binding criteria); every threshold lives in `QcPolicy`.
"""
# long module: one plate's acceptance is one procedure over one frame, fit and policy; split, they would travel.

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pandas as pd

from qc.curves import AUTO, FitResult, fit_curve, normalize_weighting
from qc.models import get_model
from qc.vocab import RESULT_ROLES, ROLES

BLANK_MODES = ("zero_standard", "subtract")
CONTROL_UNITS = ("well", "mean")
STANDARD_COLUMNS = ["level", "nominal", "n", "mean_od", "cv_pct", "backcalc", "recovery_pct", "counted", "passed", "reason"]
RESULT_COLUMNS = [
    "role",
    "name",
    "sample_id",
    "level",
    "dilution",
    "wells",
    "n_replicates",
    "mean_od",
    "sd_od",
    "cv_pct",
    "conc_well",
    "conc",
    "censoring",
    "lloq",
    "uloq",
    "nominal",
    "recovery_pct",
    "flags",
]


@dataclass(frozen=True)
class QcPolicy:
    """Every acceptance threshold for one assay; a template's [qc] table overrides fields via `from_dict`."""

    model: str = "4pl"  # "4pl", "5pl" or "auto" (per plate, qc.curves.select_model)
    weighting: str = "1/y2"
    blank: str = "zero_standard"  # or "subtract": mean blank OD off every well, blanks leave the fit
    standard_recovery_pct: float = 20.0
    standard_edge_recovery_pct: float = 25.0  # at the LLOQ and ULOQ levels
    standard_min_pass_fraction: float = 0.75
    standard_min_pass_levels: int = 6
    standard_cv_max_pct: float = 20.0
    standard_cv_fails_level: bool = True  # LLOQ/ULOQ need "recovery and CV", so a high CV fails the level
    anchor_levels: tuple[str, ...] = ()  # standards fitted but outside the range: not counted
    control_recovery_pct: float = 20.0
    control_min_pass_fraction: float = 2 / 3
    control_min_level_fraction: float = 0.5
    control_cv_max_pct: float = 20.0
    control_results: str = "well"  # "well": each control well is a result; "mean": each replicate group
    require_controls: bool = False
    sample_cv_max_pct: float = 15.0
    bridge_cv_max_pct: float = 15.0
    auto_mask: bool = True  # mask failing standards (worst first) while the 75% / 6-level rule allows

    def __post_init__(self) -> None:
        anchors = (self.anchor_levels,) if isinstance(self.anchor_levels, str) else self.anchor_levels
        auto = str(self.model).strip().lower() == AUTO  # 4PL or 5PL per plate, see qc.curves.select_model
        object.__setattr__(self, "model", AUTO if auto else get_model(self.model).name)
        object.__setattr__(self, "weighting", normalize_weighting(self.weighting))
        object.__setattr__(self, "anchor_levels", tuple(str(v) for v in anchors))
        if self.blank not in BLANK_MODES:
            raise ValueError(f"blank must be one of {', '.join(BLANK_MODES)}; got '{self.blank}'.")
        if self.control_results not in CONTROL_UNITS:
            raise ValueError(f"control_results must be one of {', '.join(CONTROL_UNITS)}; got '{self.control_results}'.")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_pct") and not (isinstance(value, int | float) and value >= 0):
                raise ValueError(f"{f.name} must be a number >= 0; got {value!r}.")
            if f.name.endswith("_fraction") and not (isinstance(value, int | float) and 0 <= value <= 1):
                raise ValueError(f"{f.name} must be a fraction between 0 and 1; got {value!r}.")
        if not isinstance(self.standard_min_pass_levels, int) or self.standard_min_pass_levels < 0:
            raise ValueError(f"standard_min_pass_levels must be a whole number >= 0; got {self.standard_min_pass_levels!r}.")

    @classmethod
    def from_dict(cls, d: dict) -> QcPolicy:
        """Defaults overridden by `d`; unknown keys raise ValueError naming them (with a 'did you mean')."""
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in d if k not in known]
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(str(key), known, n=1)
                hints.append(f"'{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
            raise ValueError(f"unknown QC setting(s) {', '.join(hints)}; known settings: {', '.join(known)}.")
        return cls(**dict(d))


@dataclass(frozen=True, eq=False)
class PlateEvaluation:
    """The outcome of `evaluate_plate`: curve, per-well, per-standard and per-result tables, LOQs and the verdict."""

    fit: FitResult
    wells: pd.DataFrame  # the input plus od_net (the OD the curve sees), conc, conc_diluted, flags
    standards: pd.DataFrame  # STANDARD_COLUMNS, one row per standard level, highest nominal first
    results: pd.DataFrame  # RESULT_COLUMNS, one row per control / bridge / sample replicate group
    lloq: float  # pg/mL in the well; NaN when no standard level passes
    uloq: float
    verdict: str  # "pass" | "fail"
    reasons: list[str]  # failures first, then warnings
    blank_od: float = float("nan")  # mean OD of the valid blank wells
    policy: QcPolicy = field(default_factory=QcPolicy)


def evaluate_plate(wells: pd.DataFrame, policy: QcPolicy = QcPolicy(), first_fit: FitResult | None = None) -> PlateEvaluation:
    """Evaluate one plate of wells (see qc.schemas.PlateWells) under `policy`; never raises for bad data.

    `first_fit` is the curve through the plate's standards when the caller already fitted it (evaluate_plates).
    """
    w = _prepare_wells(wells)
    failures: list[str] = []
    warnings: list[str] = []
    blank_od = _net_od(w, policy, failures)

    fit, standards, lloq, uloq = _calibrate(w, policy, failures, warnings, first_fit)

    use = w["_valid"] & w["role"].ne("empty")
    conc = np.full(len(w), np.nan)
    conc[use.to_numpy()] = np.asarray(fit.inverse(w.loc[use, "od_net"].to_numpy()), dtype=float)
    w["conc"] = conc
    w["conc_diluted"] = w["conc"] * w["dilution"]
    results = _results(w, fit, lloq, uloq, policy)
    _judge_controls(w, results, policy, failures, warnings)
    _result_warnings(results, policy, warnings)
    w["flags"] = _well_flags(w, fit, standards, lloq, uloq, policy)
    out = w.drop(columns=["_valid", "_level", "_sample", "_name"]).set_axis(wells.index)
    return PlateEvaluation(
        fit=fit,
        wells=out,
        standards=standards,
        results=results,
        lloq=lloq,
        uloq=uloq,
        verdict="fail" if failures else "pass",
        reasons=failures + warnings,
        blank_od=blank_od,
        policy=policy,
    )


def evaluate_plates(plates: list[pd.DataFrame], policy: QcPolicy = QcPolicy()) -> list[PlateEvaluation]:
    """Evaluate many plates: their first curves are fitted together by the batched fitter (qc.batchfit)."""
    from qc.batchfit import (
        fit_curves,  # qc.batchfit imports qc.curves, which must not import this module
    )

    if not plates:
        return []
    points = []
    for wells in plates:
        w = _prepare_wells(wells)
        _net_od(w, policy, [])
        x, y = _standard_points(w, policy)
        points.append((x.to_numpy(dtype=float), y.to_numpy(dtype=float)))
    width = max(1, max(len(x) for x, _ in points))
    X, Y = np.full((len(plates), width), np.nan), np.full((len(plates), width), np.nan)
    for i, (x, y) in enumerate(points):
        X[i, : len(x)], Y[i, : len(y)] = x, y
    fits = fit_curves(X, Y, policy.model, policy.weighting)
    return [evaluate_plate(wells, policy, fit) for wells, fit in zip(plates, fits, strict=True)]


def _net_od(w: pd.DataFrame, policy: QcPolicy, failures: list[str]) -> float:
    """Set w['od_net'] (blank-subtracted when the policy says so); returns the mean valid blank OD."""
    blank_ods = w.loc[w["_valid"] & w["role"].eq("blank"), "od"]
    blank_od = float(blank_ods.mean()) if len(blank_ods) else float("nan")
    if policy.blank == "subtract":
        if len(blank_ods) == 0:
            failures.append("Blanks: blank subtraction is configured but the plate has no valid blank wells.")
        w["od_net"] = w["od"] - (blank_od if len(blank_ods) else 0.0)
    else:
        w["od_net"] = w["od"]
    return blank_od


def _text(values: pd.Series) -> list[str | None]:
    """Strings with every flavour of missing (None, NaN, pd.NA, '') as None."""
    return [None if v is None or (not isinstance(v, str) and pd.isna(v)) or str(v).strip() == "" else str(v) for v in values]


def _prepare_wells(wells: pd.DataFrame) -> pd.DataFrame:
    """A copy with defaults filled and helper columns; ValueError for misuse (missing columns, unknown roles)."""
    missing = [c for c in ("well", "role", "od") if c not in wells.columns]
    if missing:
        raise ValueError(f"evaluate_plate needs the columns well, role and od; missing {', '.join(missing)}.")
    w = wells.copy().reset_index(drop=True)
    for column in ("level", "sample_id"):
        if column not in w:
            w[column] = pd.Series([None] * len(w), dtype=object)
    w["nominal"] = pd.to_numeric(w["nominal"], errors="coerce").astype(float) if "nominal" in w else np.nan
    w["dilution"] = pd.to_numeric(w["dilution"], errors="coerce").astype(float).fillna(1.0) if "dilution" in w else 1.0
    w["masked"] = w["masked"].fillna(False).astype(bool) if "masked" in w else False
    w["od"] = pd.to_numeric(w["od"], errors="coerce").astype(float)
    roles = pd.Series(_text(w["role"]), dtype=object).fillna("empty")
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(map(repr, unknown))}; expected one of {', '.join(ROLES)}.")
    if not (w["dilution"] > 0).all():
        raise ValueError("every dilution must be a positive number.")
    w["role"] = roles.astype(str).to_numpy()
    w["_valid"] = ~w["masked"] & np.isfinite(w["od"])
    w["mask_reason"] = w["mask_reason"].astype(object) if "mask_reason" in w else pd.Series([None] * len(w), dtype=object)
    w["_level"] = _text(w["level"])
    w["_sample"] = _text(w["sample_id"])
    names = [s if r == "sample" else lv for r, s, lv in zip(w["role"], w["_sample"], w["_level"], strict=True)]
    w["_name"] = [n if n is not None else (s or str(well)) for n, s, well in zip(names, w["_sample"], w["well"], strict=True)]
    return w


def _calibrate(
    w: pd.DataFrame, policy: QcPolicy, failures: list[str], warnings: list[str], first_fit: FitResult | None = None
) -> tuple[FitResult, pd.DataFrame, float, float]:
    """Fit the curve, mask failing standards as far as the rule allows (with reasons), and judge the standards."""
    fit = first_fit if first_fit is not None else _fit_standards(w, policy)
    standards = _judge_standards(w, fit, policy)
    if policy.auto_mask and fit.converged:
        fit, standards = _auto_mask(w, policy, fit, standards, warnings)
    if not fit.converged:
        failures.append(f"Standard curve: the fit failed ({fit.message.rstrip('.')}).")
    elif fit.message != "converged.":
        warnings.append(f"Standard curve: {fit.message}")
    passed = standards.loc[standards["passed"], "nominal"]
    lloq = float(passed.min()) if len(passed) else float("nan")
    uloq = float(passed.max()) if len(passed) else float("nan")
    counted = standards[standards["counted"]]
    n_pass, n_all = int(counted["passed"].sum()), len(counted)
    need = policy.standard_min_pass_fraction
    if fit.converged and (n_pass < need * n_all - 1e-9 or n_pass < policy.standard_min_pass_levels or n_all == 0):
        failures.append(
            f"Standards: {n_pass} of {n_all} levels within recovery limits "
            f"(need {_fmt_fraction(need)} and at least {policy.standard_min_pass_levels})."
        )
    bad = counted[~counted["passed"]]
    if fit.converged and len(bad):
        warnings.append(
            "Failing standard levels: " + "; ".join(f"{lv} ({r})" for lv, r in zip(bad["level"], bad["reason"], strict=True)) + "."
        )
    return fit, standards, lloq, uloq


def _standard_points(w: pd.DataFrame, policy: QcPolicy) -> tuple[pd.Series, pd.Series]:
    """(x, y) of the curve: the valid standard wells, and the blanks as x = 0 when they are the zero standard."""
    in_fit = w["_valid"] & w["role"].eq("standard") & w["nominal"].notna()
    if policy.blank == "zero_standard":
        in_fit |= w["_valid"] & w["role"].eq("blank")
    x = w.loc[in_fit, "nominal"].fillna(0.0).where(w.loc[in_fit, "role"].ne("blank"), 0.0)
    return x, w.loc[in_fit, "od_net"]


def _fit_standards(w: pd.DataFrame, policy: QcPolicy) -> FitResult:
    """The curve through the standards (see _standard_points)."""
    x, y = _standard_points(w, policy)
    return fit_curve(x.to_numpy(), y.to_numpy(), policy.model, policy.weighting)


def _standard_keys(w: pd.DataFrame) -> pd.Series:
    """The level name of each standard well (its nominal when the level is unnamed), as `_judge_standards` groups them."""
    return pd.Series([lv if lv is not None else f"{n:g}" for lv, n in zip(w["_level"], w["nominal"], strict=True)], index=w.index)


def _auto_mask(
    w: pd.DataFrame, policy: QcPolicy, fit: FitResult, standards: pd.DataFrame, warnings: list[str]
) -> tuple[FitResult, pd.DataFrame]:
    """Mask failing standards, worst first, and refit: a single stray replicate when its partner passes, else the
    whole level while at least max(standard_min_pass_levels, 75%) of the levels stay. Sets w.masked/mask_reason."""
    total = int(standards["counted"].sum())
    keep = max(policy.standard_min_pass_levels, math.ceil(policy.standard_min_pass_fraction * total - 1e-9))
    keys = _standard_keys(w)
    tried: set[str] = set()
    for _ in range(int(w["role"].eq("standard").sum())):
        counted = standards[standards["counted"]]
        failing = counted[~counted["passed"] & (counted["n"] > 0) & ~counted["level"].isin(tried)]
        if failing.empty or not fit.converged:
            break
        worst = failing.loc[(failing["recovery_pct"] - 100).abs().fillna(np.inf).idxmax()]
        level, nominal = str(worst["level"]), float(worst["nominal"])
        limit = policy.standard_recovery_pct
        rows = w.index[w["_valid"] & w["role"].eq("standard") & keys.eq(level)]
        recovery = np.asarray(fit.inverse(w.loc[rows, "od_net"].to_numpy()), dtype=float) / nominal * 100
        error = np.where(np.isfinite(recovery), np.abs(recovery - 100), np.inf)
        others_ok = len(rows) >= 2 and np.all(np.sort(error)[:-1] <= limit)
        levels_left = int((counted["n"] > 0).sum())
        if others_ok:
            target, what = [rows[int(np.argmax(error))]], f"{level} replicate"
        elif levels_left - 1 >= keep:
            target, what = list(rows), f"standard level {level}"
        else:
            tried.add(level)
            continue
        shown = f"{recovery[int(np.argmax(error))]:.0f}% of nominal" if np.isfinite(error).all() else "beyond the curve"
        reason = f"auto-masked: {what} back-calculated at {shown} (limit ±{limit:g}%)"
        w.loc[target, "masked"] = True
        w.loc[target, "_valid"] = False
        w.loc[target, "mask_reason"] = reason
        warnings.append(f"Auto-masked {', '.join(str(x) for x in w.loc[target, 'well'])}: {reason.removeprefix('auto-masked: ')}.")
        fit = _fit_standards(w, policy)
        standards = _judge_standards(w, fit, policy)
    return fit, standards


def _judge_standards(w: pd.DataFrame, fit: FitResult, policy: QcPolicy) -> pd.DataFrame:
    """One row per standard level: replicate stats, mean back-calculated value, recovery, pass/fail and why."""
    std = w[w["role"].eq("standard")].copy()
    std["_key"] = [lv if lv is not None else f"{n:g}" for lv, n in zip(std["_level"], std["nominal"], strict=True)]
    rows = []
    for key, g in std.groupby("_key", sort=False):
        nominal = float(g["nominal"].dropna().iloc[0]) if g["nominal"].notna().any() else float("nan")
        ok = g[g["_valid"]]
        od = ok["od_net"].to_numpy()
        back = np.asarray(fit.inverse(od), dtype=float) if len(od) else np.array([])
        mean_od = float(od.mean()) if len(od) else float("nan")
        cv = _cv(od)
        backcalc = float(back.mean()) if len(back) else float("nan")
        recovery = backcalc / nominal * 100 if nominal > 0 else float("nan")
        counted = bool(nominal > 0 and str(key) not in policy.anchor_levels)
        rows.append(
            {
                "level": str(key),
                "nominal": nominal,
                "n": len(od),
                "mean_od": mean_od,
                "cv_pct": cv,
                "backcalc": backcalc,
                "recovery_pct": recovery,
                "counted": counted,
            }
        )
    table = pd.DataFrame(rows, columns=STANDARD_COLUMNS[:-2])
    if table.empty:
        return pd.DataFrame(columns=STANDARD_COLUMNS).astype({"passed": bool, "counted": bool})
    table = table.sort_values("nominal", ascending=False, kind="stable").reset_index(drop=True)
    table["passed"] = standard_levels_pass(table["nominal"], table["recovery_pct"], table["cv_pct"], table["counted"], policy)
    passed = table.loc[table["passed"], "nominal"]
    edges = {passed.min(), passed.max()} if len(passed) else set()  # the LLOQ and ULOQ levels
    table["reason"] = [_standard_reason(r, fit, policy, edges) for r in table.itertuples()]
    return table[STANDARD_COLUMNS]


def standard_levels_pass(nominal: pd.Series, recovery_pct: pd.Series, cv_pct: pd.Series, counted: pd.Series, policy: QcPolicy) -> pd.Series:
    """Which levels pass: within ±20% (±25% for the lowest and highest levels that reach ±25%), CV within limit."""
    err = (recovery_pct - 100).abs()
    cv_ok = ~(cv_pct > policy.standard_cv_max_pct) | (not policy.standard_cv_fails_level)
    ok_core = counted & (err <= policy.standard_recovery_pct) & cv_ok
    ok_edge = counted & (err <= policy.standard_edge_recovery_pct) & cv_ok
    if not ok_edge.any():
        return ok_core.astype(bool)
    edges = {nominal[ok_edge].min(), nominal[ok_edge].max()}
    return (ok_core | (ok_edge & nominal.isin(edges))).astype(bool)


def _standard_reason(r, fit: FitResult, policy: QcPolicy, edges: set) -> str:
    """Short phrase saying why a standard level passed or failed."""
    if not r.counted:
        return "zero standard: not a calibrator level" if not r.nominal > 0 else "anchor point: fitted, not counted"
    if r.n == 0:
        return "no valid wells"
    if not fit.converged:
        return "no standard curve"
    if math.isnan(r.backcalc):
        return "a replicate lies beyond the curve's asymptotes"
    edge = r.nominal in edges
    limit = policy.standard_edge_recovery_pct if edge else policy.standard_recovery_pct
    problems = []
    if abs(r.recovery_pct - 100) > limit:
        problems.append(f"recovery {r.recovery_pct:.0f}%, limit ±{limit:g}%")
    if r.cv_pct > policy.standard_cv_max_pct:
        problems.append(f"CV {r.cv_pct:.1f}% > {policy.standard_cv_max_pct:g}%")
    if not problems:
        at_edge = edge and abs(r.recovery_pct - 100) > policy.standard_recovery_pct
        return f"passed (recovery {r.recovery_pct:.0f}%" + (f", edge limit ±{limit:g}%)" if at_edge else ")")
    return ", ".join(problems) + (" (flag only)" if r.passed else "")


def _cv(od: np.ndarray) -> float:
    """Replicate %CV (sample SD over |mean|); NaN with fewer than two values."""
    if len(od) < 2 or np.mean(od) == 0:
        return float("nan")
    return float(np.std(od, ddof=1) / abs(np.mean(od)) * 100)


def _censor(conc_well: float, od: float, fit: FitResult, lloq: float, uloq: float) -> str:
    """none | below_lloq | above_uloq, in concentration space; beyond an asymptote, by which asymptote it passed."""
    if not fit.converged or math.isnan(od):
        return "none"
    if not math.isnan(conc_well):
        if conc_well < lloq:
            return "below_lloq"
        return "above_uloq" if conc_well > uloq else "none"
    a, d = fit.params["a"], fit.params["d"]
    return "below_lloq" if (od - a) * (d - a) <= 0 else "above_uloq"


def _results(w: pd.DataFrame, fit: FitResult, lloq: float, uloq: float, policy: QcPolicy) -> pd.DataFrame:
    """One row per replicate group (role, name, dilution) of controls, bridging pools and samples."""
    sub = w[w["role"].isin(RESULT_ROLES)]
    rows = []
    for (role, name, dilution), g in sub.groupby(["role", "_name", "dilution"], sort=False):
        ok = g[g["_valid"]]
        od = ok["od_net"].to_numpy()
        mean_od = float(od.mean()) if len(od) else float("nan")
        conc_well = float(fit.inverse(mean_od)) if len(od) else float("nan")
        nominal = float(g["nominal"].dropna().iloc[0]) if role == "control" and g["nominal"].notna().any() else float("nan")
        conc = conc_well * dilution
        cv = _cv(od)
        flags: list[str] = []
        censoring = _censor(conc_well, mean_od, fit, lloq, uloq)
        if len(od) == 0:
            flags.append("no_valid_wells")
        elif fit.converged and math.isnan(conc_well):
            flags.append("outside_curve")
        limit = {"sample": policy.sample_cv_max_pct, "bridge": policy.bridge_cv_max_pct}.get(role, policy.control_cv_max_pct)
        if cv > limit:
            flags.append("cv_high")
        if censoring != "none":
            flags.append(censoring)
        recovery = conc / nominal * 100 if nominal > 0 else float("nan")
        if role == "control" and len(od) and not abs(recovery - 100) <= policy.control_recovery_pct:
            flags.append("control_out_of_range")
        rows.append(
            {
                "role": role,
                "name": name,
                "sample_id": next((s for s in g["_sample"] if s), None),
                "level": next((s for s in g["_level"] if s), None),
                "dilution": float(dilution),
                "wells": [str(x) for x in g["well"]],
                "n_replicates": len(od),
                "mean_od": mean_od,
                "sd_od": float(np.std(od, ddof=1)) if len(od) > 1 else float("nan"),
                "cv_pct": cv,
                "conc_well": conc_well,
                "conc": conc,
                "censoring": censoring,
                "lloq": lloq * dilution,
                "uloq": uloq * dilution,
                "nominal": nominal,
                "recovery_pct": recovery,
                "flags": flags,
            }
        )
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _judge_controls(w: pd.DataFrame, results: pd.DataFrame, policy: QcPolicy, failures: list[str], warnings: list[str]) -> None:
    """Kit controls: overall share and per-level share within ±limit of nominal (per well or per group mean)."""
    if policy.control_results == "well":
        ctl = w[w["role"].eq("control") & w["_valid"]]
        levels, conc, nominal = ctl["_name"], ctl["conc_diluted"], ctl["nominal"]
    else:
        ctl = results[results["role"].eq("control") & (results["n_replicates"] > 0)]
        levels, conc, nominal = ctl["name"], ctl["conc"], ctl["nominal"]
    n_wells = int(w["role"].eq("control").sum())
    if n_wells and len(ctl) == 0:
        failures.append(f"Kit controls: none of the {n_wells} control wells gave a result (masked or unreadable).")
        return
    if len(ctl) == 0:
        sentence = "Kit controls: no kit controls on this plate, so control acceptance was not checked."
        (failures if policy.require_controls else warnings).append(sentence)
        return
    limit = policy.control_recovery_pct
    ok = ((conc / nominal * 100 - 100).abs() <= limit).to_numpy()
    need = policy.control_min_pass_fraction
    if ok.sum() < need * len(ok) - 1e-9:
        failures.append(f"Kit controls: {int(ok.sum())} of {len(ok)} within ±{limit:g}% of nominal (need {_fmt_fraction(need)}).")
    for level in dict.fromkeys(levels):
        at = (levels == level).to_numpy()
        if ok[at].sum() < policy.control_min_level_fraction * at.sum() - 1e-9:
            failures.append(
                f"Kit control '{level}': {int(ok[at].sum())} of {int(at.sum())} within ±{limit:g}% of nominal "
                f"(need {_fmt_fraction(policy.control_min_level_fraction)} at each level)."
            )


def _result_warnings(results: pd.DataFrame, policy: QcPolicy, warnings: list[str]) -> None:
    """Warnings for high replicate CVs, censored results and groups without valid wells."""

    def flagged(flag: str) -> pd.Series:
        return results["flags"].map(lambda flags: flag in flags).astype(bool)

    labels = {
        "control": ("Kit control", policy.control_cv_max_pct),
        "bridge": ("Bridging pool", policy.bridge_cv_max_pct),
        "sample": ("Sample", policy.sample_cv_max_pct),
    }
    for role, (label, limit) in labels.items():
        high = results[results["role"].eq(role) & flagged("cv_high")]
        if len(high):
            names = ", ".join(f"{n} ({cv:.1f}%)" for n, cv in zip(high["name"], high["cv_pct"], strict=True))
            warnings.append(f"{label} replicate CV above {limit:g}%: {names}.")
    below = int((results["censoring"] == "below_lloq").sum())
    above = int((results["censoring"] == "above_uloq").sum())
    if below or above:
        warnings.append(f"Censored results: {below} below LLOQ, {above} above ULOQ (re-assay at a lower / higher dilution).")
    empty = results[flagged("no_valid_wells")]
    if len(empty):
        warnings.append(f"No valid wells for: {', '.join(empty['name'].astype(str))}.")


def _well_flags(w: pd.DataFrame, fit: FitResult, standards: pd.DataFrame, lloq: float, uloq: float, policy: QcPolicy) -> pd.Series:
    """Per-well list of short flags (masked, od_missing, outside_curve, censoring, failed standard, control out)."""
    failed_levels = set(standards.loc[~standards["passed"].astype(bool) & standards["counted"].astype(bool), "level"])
    out = []
    columns = ["masked", "od", "_valid", "role", "conc", "conc_diluted", "od_net", "nominal", "_level"]
    for masked, od, valid, role, conc, conc_diluted, od_net, nominal, level in zip(*(w[c] for c in columns), strict=True):
        flags = []
        if masked:
            flags.append("masked")
        if math.isnan(od):
            flags.append("od_missing")
        if valid and role in RESULT_ROLES:
            if fit.converged and math.isnan(conc):
                flags.append("outside_curve")
            censoring = _censor(conc, od_net, fit, lloq, uloq)
            if censoring != "none":
                flags.append(censoring)
            if role == "control" and not abs(conc_diluted / nominal * 100 - 100) <= policy.control_recovery_pct:
                flags.append("control_out_of_range")
        if role == "standard" and (level if level is not None else f"{nominal:g}") in failed_levels:
            flags.append("standard_level_failed")
        out.append(flags)
    return pd.Series(out, index=w.index, dtype=object)


def _fmt_fraction(f: float) -> str:
    """0.75 -> '75%', 2/3 -> '2/3'."""
    pct = f * 100
    if abs(pct - round(pct)) < 1e-9:
        return f"{round(pct)}%"
    frac = Fraction(f).limit_denominator(12)
    return f"{frac.numerator}/{frac.denominator}"
