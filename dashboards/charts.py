"""Charts: DataFrame in, Altair chart out. No queries here."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

ROLE_COLOURS = {"standard": "#1f77b4", "blank": "#7f7f7f", "control": "#2ca02c", "bridge": "#9467bd", "sample": "#ff7f0e"}


def curve_chart(wells: pd.DataFrame, curve: pd.DataFrame, lloq: float | None, uloq: float | None) -> alt.Chart:
    """Standards (masked ones hollow) and the fitted curve on log concentration, with LLOQ/ULOQ rules."""
    std = wells[wells["role"].isin(["standard"]) & wells["od_corrected"].notna()].copy()
    std["status"] = np.where(std["masked"], "masked", "used")
    points = (
        alt.Chart(std)
        .mark_point(size=70, filled=True)
        .encode(
            x=alt.X("nominal:Q", scale=alt.Scale(type="log"), title="BDNF (pg/mL)"),
            y=alt.Y("od_corrected:Q", title="corrected OD"),
            shape=alt.Shape("status:N"),
            tooltip=["position", "level", "nominal", "od_corrected", "conc_pg_ml", "mask_reason"],
        )
    )
    line = alt.Chart(curve).mark_line(color="#444").encode(x="conc:Q", y="od:Q")
    layers = [line, points]
    limits = pd.DataFrame([{"limit": name, "conc": v} for name, v in (("LLOQ", lloq), ("ULOQ", uloq)) if v])
    if not limits.empty:
        layers.append(alt.Chart(limits).mark_rule(strokeDash=[4, 4], color="#d62728").encode(x="conc:Q", tooltip=["limit", "conc"]))
    return alt.layer(*layers).properties(height=360)


def plate_heatmap(wells: pd.DataFrame, value: str = "od_corrected") -> alt.Chart:
    """The plate as a grid of wells coloured by `value`."""
    return (
        alt.Chart(wells)
        .mark_rect()
        .encode(
            x=alt.X("col:O", title=None),
            y=alt.Y("row:O", title=None),
            color=alt.Color(f"{value}:Q", scale=alt.Scale(scheme="viridis")),
            tooltip=["position", "role", "level", "sample_code", "od_corrected", "conc_pg_ml"],
        )
        .properties(height=260)
    )
