"""Design check before a correction, and the diagnostics every `qc.batch` result carries.

`check_design`: for each protected covariate and each batch column, Cramer's V (for a numeric covariate: the
correlation ratio) on the sample rows, and the share of the covariate's variation left WITHIN batches (zero = the
design batch + covariates is rank deficient: the covariate effect cannot be told from the batch effect). A covariate
with V >= max_v or no within-batch variation is confounded: `ConfoundedDesign` names it and its single-level batches,
unless override=True.

`diagnose`: share of variance from plate and lot before/after (REML, `qc.batch.models.fit_reml`, on sample rows with
the protected covariates as fixed effects), the check pool's intra-/inter-assay CV before/after, repeated samples'
across-plate CV before/after (when a sample_id is measured on several plates), and the protected covariates' OLS
effects before/after (the biology that must survive).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from qc.batch.models import dummies, fit_reml, independent_columns, is_categorical

PROTECTED = ("sample_type", "season", "diagnosis", "visit")
MAX_CRAMERS_V = 0.9
MAX_NAMED = 6


class ConfoundedDesign(ValueError):
    """A protected covariate is (nearly) confounded with batch; `.table` holds the design check."""

    def __init__(self, message: str, table: pd.DataFrame):
        self.table = table
        super().__init__(message)


def _association(cov: pd.Series, batch: pd.Series) -> tuple[float, float]:
    """(Cramer's V or correlation ratio, share of the covariate's variation within batches)."""
    ok = cov.notna().to_numpy() & batch.notna().to_numpy()
    b = pd.factorize(batch[ok])[0]
    nb = b.max() + 1 if b.size else 0
    if nb < 2:
        return float("nan"), float("nan")
    if is_categorical(cov):
        c, levels = pd.factorize(cov[ok])
        k = len(levels)
        if k < 2:
            return float("nan"), float("nan")
        tab = np.bincount(b * k + c, minlength=nb * k).reshape(nb, k).astype(float)
        N, rs, cs = tab.sum(), tab.sum(1), tab.sum(0)
        chi2 = N * (np.sum(tab**2 / np.outer(rs, cs)) - 1.0)
        v = np.sqrt(chi2 / (N * min(nb - 1, k - 1)))
        X = np.eye(k)[c]
    else:
        X = cov[ok].to_numpy(float)[:, None]
        v = np.nan
    nb_count = np.bincount(b, minlength=nb).astype(float)
    means = np.column_stack([np.bincount(b, X[:, j], nb) for j in range(X.shape[1])]) / nb_count[:, None]
    within = float(np.sum((X - means[b]) ** 2))
    total = float(np.sum((X - X.mean(0)) ** 2))
    share = within / total if total > 0 else float("nan")
    if np.isnan(v):
        v = np.sqrt(max(0.0, 1.0 - share))
    return float(min(v, 1.0)), share


def _pure_batches(cov: pd.Series, batch: pd.Series) -> str:
    """'winter' only on plate(s) P01, P02 ...; for the message."""
    ok = cov.notna() & batch.notna()
    if not is_categorical(cov):
        return ""
    g = pd.DataFrame({"b": batch[ok].astype(str).to_numpy(), "c": cov[ok].astype(str).to_numpy()})
    levels = g.groupby("b", sort=False)["c"].agg(["nunique", "first"])
    pure = levels[levels["nunique"] == 1]
    parts = []
    for lev, names in pure.groupby("first", sort=True).groups.items():
        names = list(names)
        more = f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else ""
        parts.append(f"'{lev}' alone on {', '.join(names[:MAX_NAMED])}{more}")
    return "; ".join(parts)


def check_design(
    samples: pd.DataFrame,
    covariates: Sequence[str] | None = None,
    batches: Sequence[str] = ("plate", "kit_lot"),
    max_v: float = MAX_CRAMERS_V,
    override: bool = False,
) -> pd.DataFrame:
    """Table covariate, batch, cramers_v, within_share, confounded, detail; ConfoundedDesign if any is confounded
    (unless override). `samples`: the sample rows (pools carry no biology)."""
    covs = [c for c in (PROTECTED if covariates is None else covariates) if c in samples.columns]
    rows = []
    for batch in batches:
        if batch not in samples.columns:
            continue
        for cov in covs:
            v, share = _association(samples[cov], samples[batch])
            bad = bool((np.isfinite(v) and v >= max_v) or (np.isfinite(share) and share < 1e-9))
            rows.append(
                {
                    "covariate": cov,
                    "batch": batch,
                    "cramers_v": v,
                    "within_share": share,
                    "confounded": bad,
                    "detail": _pure_batches(samples[cov], samples[batch]) if bad else "",
                }
            )
    table = pd.DataFrame(rows, columns=["covariate", "batch", "cramers_v", "within_share", "confounded", "detail"])
    bad = table[table["confounded"]]
    if len(bad) and not override:
        lines = [
            f"{r.covariate} is confounded with {r.batch} (Cramer's V = {r.cramers_v:.2f}, "
            f"{100 * r.within_share:.1f}% of its variation within {r.batch}s)" + (f": {r.detail}" if r.detail else "")
            for r in bad.itertuples()
        ]
        raise ConfoundedDesign(
            "; ".join(lines) + f". Correcting for {', '.join(bad['batch'].unique())} from the samples would remove "
            f"the {', '.join(bad['covariate'].unique())} effect. Use the bridge-pool or lot (standards) correction, "
            "which use no samples, re-randomise samples over plates, or pass override=True to run anyway "
            "(recorded in the result).",
            table,
        )
    return table


def pool_cv(frame: pd.DataFrame, pool: str, column: str = "log_value") -> dict[str, float]:
    """Intra-assay CV (pooled within-plate SD of the pool's wells) and inter-assay CV (SD of its plate means), both
    from log-scale SDs as sqrt(exp(sd^2) - 1); plates = plates with the pool."""
    if "pool" not in frame:
        return {}
    k = (frame["pool"] == pool).fillna(False).to_numpy(bool) & np.isfinite(frame[column].to_numpy(float))
    if not k.any():
        return {}
    y, plate = frame[column].to_numpy(float)[k], pd.factorize(frame["plate"][k])[0]
    n = np.bincount(plate).astype(float)
    means = np.bincount(plate, y) / n
    dof = len(y) - len(n)
    sd_w = float(np.sqrt(np.sum((y - means[plate]) ** 2) / dof)) if dof > 0 else float("nan")
    sd_b = float(np.std(means, ddof=1)) if len(n) > 1 else float("nan")

    def cv(sd: float) -> float:  # the CV of a log-normal with SD `sd` on the log scale
        return float(np.sqrt(np.expm1(sd**2)))

    return {"within_plate_cv": cv(sd_w), "across_plate_cv": cv(sd_b), "n_plates": len(n), "wells_per_plate": float(n.mean())}


def _repeat_cv(frame: pd.DataFrame, sample_rows: np.ndarray, column: str) -> tuple[float, int] | None:
    """Pooled across-plate CV of samples measured on more than one plate (each plate's mean per sample), and how
    many such samples there are (re-assays are often repeated because the first value was doubtful: few of them
    say little)."""
    if "sample_id" not in frame:
        return None
    d = frame.loc[sample_rows, ["sample_id", "plate", column]].dropna()
    m = d.groupby(["sample_id", "plate"], sort=False)[column].mean().reset_index()
    counts = m["sample_id"].map(m["sample_id"].value_counts())
    m = m[counts >= 2]
    if m.empty:
        return None
    dev = m[column] - m.groupby("sample_id")[column].transform("mean")
    dof = len(m) - m["sample_id"].nunique()
    return float(np.sqrt(np.expm1(np.sum(dev**2) / dof))), int(m["sample_id"].nunique())


def _ols_effects(y: np.ndarray, X: np.ndarray, names: list[str]) -> dict[str, float]:
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    return {n: float(b) for n, b in zip(names, beta) if n != "intercept"}


def diagnose(out: pd.DataFrame, covariates: Sequence[str] | None = None, check_pool: str | None = "QC2") -> dict:
    """Diagnostics of a corrected frame (columns log_value and log_corrected)."""
    covs = [c for c in (PROTECTED if covariates is None else covariates) if c in out.columns]
    role = out["role"].astype(str).to_numpy() if "role" in out else np.full(len(out), "sample")
    pool_col = out["pool"].notna().to_numpy() if "pool" in out else np.zeros(len(out), bool)
    before, after = out["log_value"].to_numpy(float), out["log_corrected"].to_numpy(float)
    is_sample = (role == "sample") & ~pool_col
    rows = is_sample & np.isfinite(before) & np.isfinite(after)
    diag: dict = {"n_samples": int(rows.sum()), "covariates": covs}
    if rows.sum() > 2:
        X, names = dummies(out.loc[rows, covs], covs)
        X, names = np.column_stack([np.ones(int(rows.sum())), X]), ["intercept"] + names
        keep = independent_columns(X)
        X, names = X[:, keep], [names[i] for i in keep]
        plate, n_pl = pd.factorize(out.loc[rows, "plate"])[0], out.loc[rows, "plate"].nunique()
        lot, lots = pd.factorize(out.loc[rows, "kit_lot"])
        var = {}
        for label, y in (("before", before[rows]), ("after", after[rows])):
            if n_pl > 1:
                fit = fit_reml(y, X, plate, n_pl, lot if len(lots) > 1 else None, len(lots) if len(lots) > 1 else 0)
                var[label] = {"sigma2": fit.sigma2, "shares": fit.shares()}
        diag["variance"] = var
        diag["covariate_effects"] = {"before": _ols_effects(before[rows], X, names), "after": _ols_effects(after[rows], X, names)}
    if check_pool:
        diag["check_pool"] = {
            "pool": check_pool,
            "before": pool_cv(out, check_pool, "log_value"),
            "after": pool_cv(out, check_pool, "log_corrected"),
        }
    rep_b, rep_a = _repeat_cv(out, is_sample, "log_value"), _repeat_cv(out, is_sample, "log_corrected")
    if rep_b is not None:
        diag["repeated_samples"] = {
            "across_plate_cv_before": rep_b[0],
            "across_plate_cv_after": rep_a[0] if rep_a else None,
            "n_samples": rep_b[1],
        }
    return diag
