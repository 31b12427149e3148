"""Charts: DataFrame in, Altair chart out. No queries here."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

ROLE_COLOURS = {"standard": "#1f77b4", "blank": "#7f7f7f", "control": "#2ca02c", "bridge": "#9467bd", "sample": "#ff7f0e"}


def curve_chart(wells: pd.DataFrame, curve: pd.DataFrame, lloq: float | None, uloq: float | None) -> alt.Chart:
    """Standards (masked ones hollow crosses), samples at their interpolated plate concentration, the fitted curve on
    log concentration, and LLOQ/ULOQ rules."""
    std = wells[wells["role"].isin(["standard"]) & wells["od_corrected"].notna()].copy()
    std["status"] = np.where(std["masked"], "standard (masked)", "standard")
    points = (
        alt.Chart(std)
        .mark_point(size=70)
        .encode(
            x=alt.X("nominal:Q", scale=alt.Scale(type="log"), title="BDNF (pg/mL)"),
            y=alt.Y("od_corrected:Q", title="corrected OD"),
            shape=alt.Shape("status:N", title=None),
            color=alt.Color("status:N", title=None, scale=alt.Scale(domain=["standard", "standard (masked)", "sample"],
                                                                    range=["#1f77b4", "#d62728", "#ff7f0e"])),
            tooltip=["position", "level", "nominal", "od_corrected", "conc_pg_ml", "mask_reason"],
        )
    )
    line = alt.Chart(curve).mark_line(color="#444").encode(x="conc:Q", y="od:Q")
    layers = [line, points]
    smp = wells[(wells["role"] == "sample") & wells["conc_pg_ml"].notna() & wells["od_corrected"].notna()].copy()
    smp = smp[smp["conc_pg_ml"] > 0]
    if not smp.empty:
        smp["plate_conc"] = smp["conc_pg_ml"] / smp["dilution"].where(smp["dilution"] > 0, 1.0)
        smp["status"] = np.where(smp["masked"], "sample (masked)", "sample")
        layers.append(
            alt.Chart(smp).mark_circle(size=35, opacity=0.6, color="#ff7f0e")
            .encode(x="plate_conc:Q", y="od_corrected:Q", tooltip=["position", "sample_code", "dilution", "od_corrected", "conc_pg_ml"])
        )
    limits = pd.DataFrame([{"limit": name, "conc": v} for name, v in (("LLOQ", lloq), ("ULOQ", uloq)) if v])
    if not limits.empty:
        layers.append(alt.Chart(limits).mark_rule(strokeDash=[4, 4], color="#d62728").encode(x="conc:Q", tooltip=["limit", "conc"]))
    return alt.layer(*layers).properties(height=360)


HEATMAP_TOOLTIP = ["position", "role", "level", "sample_code", "od_corrected", "cv_pct", "conc_pg_ml", "masked"]


def plate_heatmap(wells: pd.DataFrame, value: str = "od_corrected", title: str | None = None) -> alt.Chart:
    """The plate as a grid of wells coloured by `value`."""
    return (
        alt.Chart(wells)
        .mark_rect()
        .encode(
            x=alt.X("col:O", title=None),
            y=alt.Y("row:O", title=None),
            color=alt.Color(f"{value}:Q", scale=alt.Scale(scheme="viridis"), title=title or value),
            tooltip=[c for c in HEATMAP_TOOLTIP if c in wells.columns],
        )
        .properties(height=260, title=title or "")
    )


def with_replicate_cv(wells: pd.DataFrame) -> pd.DataFrame:
    """Each well with the CV (%) of the corrected OD of its replicate group (same role, level or sample, dilution),
    unmasked wells only."""
    out = wells.copy()
    used = out[~out["masked"].astype(bool) & out["od_corrected"].notna()]
    ident = used["level"].fillna(used["sample_code"]).fillna("")
    keys = [used["role"], ident, used["dilution"]]
    grouped = used.groupby(keys)["od_corrected"]
    cv = grouped.transform("std") / grouped.transform("mean").abs() * 100
    out["cv_pct"] = cv.reindex(out.index)
    return out


def bdnf_by(df: pd.DataFrame, column: str) -> alt.Chart:
    """BDNF per category of `column`: a box per category with the measurements over it (censored ones marked)."""
    data = df[df["bdnf_pg_ml"].notna()].assign(**{column: df[column].astype("string").fillna("unknown")})
    base = alt.Chart(data).encode(x=alt.X(f"{column}:N", title=column.replace("_", " ")))
    box = base.mark_boxplot(extent="min-max", opacity=0.5).encode(y=alt.Y("bdnf_pg_ml:Q", title="BDNF (pg/mL)", scale=alt.Scale(type="log")))
    points = base.mark_circle(size=20, opacity=0.5).encode(
        y="bdnf_pg_ml:Q", color=alt.Color("censoring:N"), xOffset="jitter:Q",
        tooltip=["sample_id", "subject_id", "plate_id", "bdnf_pg_ml", "censoring"],
    ).transform_calculate(jitter="random()")
    return alt.layer(box, points).properties(height=300)


def levey_jennings(points: pd.DataFrame, mean: float | None, sd: float | None, flagged: set[int]) -> alt.Chart:
    """Values in run order with the guide set's mean and 1/2/3 SD bands; plates with a violation in red."""
    df = points.assign(violation=points["plate_id"].isin(flagged).map({True: "violation", False: "in control"}))
    base = alt.Chart(df).encode(x=alt.X("run_order:T", title="run (read time)"))
    layers = [
        base.mark_line(color="#999").encode(y=alt.Y("value:Q", title="value", scale=alt.Scale(zero=False))),
        base.mark_point(filled=True, size=60).encode(
            y="value:Q",
            color=alt.Color("violation:N", scale=alt.Scale(domain=["in control", "violation"], range=["#1f77b4", "#d62728"])),
            tooltip=["plate", "status", "value", "run_order"],
        ),
    ]
    if mean is not None and sd is not None and sd > 0:
        lines = pd.DataFrame([{"band": label, "y": mean + k * sd} for k, label in
                              ((0, "mean"), (1, "+1 SD"), (-1, "-1 SD"), (2, "+2 SD"), (-2, "-2 SD"), (3, "+3 SD"), (-3, "-3 SD"))])
        dash = alt.condition(alt.datum.band == "mean", alt.value([1, 0]), alt.value([4, 4]))
        layers.insert(0, alt.Chart(lines).mark_rule(color="#888").encode(y="y:Q", strokeDash=dash, tooltip=["band", "y"]))
    return alt.layer(*layers).properties(height=320)
