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
            color=alt.Color(
                "status:N",
                title=None,
                scale=alt.Scale(domain=["standard", "standard (masked)", "sample"], range=["#1f77b4", "#d62728", "#ff7f0e"]),
            ),
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
            alt.Chart(smp)
            .mark_circle(size=35, opacity=0.6, color="#ff7f0e")
            .encode(x="plate_conc:Q", y="od_corrected:Q", tooltip=["position", "sample_code", "dilution", "od_corrected", "conc_pg_ml"])
        )
    limits = pd.DataFrame([{"limit": name, "conc": v} for name, v in (("LLOQ", lloq), ("ULOQ", uloq)) if v])
    if not limits.empty:
        layers.append(alt.Chart(limits).mark_rule(strokeDash=[4, 4], color="#d62728").encode(x="conc:Q", tooltip=["limit", "conc"]))
    return alt.layer(*layers).properties(height=360)


HEATMAP_TOOLTIP = ["position", "role", "level", "sample_code", "od_corrected", "cv_pct", "conc_pg_ml", "masked", "flags", "marker"]


def plate_heatmap(wells: pd.DataFrame, value: str = "od_corrected", title: str | None = None) -> alt.Chart:
    """The plate as a grid of wells coloured by `value`; the tooltip names each well's flags and the file's marker."""
    if "flags" in wells.columns:
        wells = wells.assign(flags=wells["flags"].map(lambda f: ", ".join(f) if isinstance(f, list) else f))
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


MAX_POINTS = 3000  # points drawn over a chart; more are sampled (the boxes always use every value)


def _sampled(df: pd.DataFrame, max_points: int) -> pd.DataFrame:
    return df if len(df) <= max_points else df.sample(max_points, random_state=0)


def bdnf_by(df: pd.DataFrame, column: str, max_points: int = MAX_POINTS) -> alt.Chart:
    """BDNF per category of `column`: a box (quartiles, whiskers min-max) per category computed from every value, with
    at most `max_points` measurements drawn over it (censored ones coloured), so a 2,500-plate study stays light."""
    data = df[df["bdnf_pg_ml"] > 0].assign(**{column: df[column].astype("string").fillna("unknown")})
    stats = data.groupby(column)["bdnf_pg_ml"].describe()[["min", "25%", "50%", "75%", "max"]].reset_index()
    stats.columns = [column, "lo", "q1", "median", "q3", "hi"]
    x = alt.X(f"{column}:N", title=column.replace("_", " "))
    y = alt.Y("lo:Q", title="BDNF (pg/mL)", scale=alt.Scale(type="log"))
    box = alt.Chart(stats).encode(x=x)
    layers = [
        box.mark_rule().encode(y=y, y2="hi:Q"),
        box.mark_bar(size=40, opacity=0.4).encode(y="q1:Q", y2="q3:Q", tooltip=[column, "median", "q1", "q3"]),
        box.mark_tick(size=40, thickness=2, color="black").encode(y="median:Q"),
    ]
    points = (
        alt.Chart(_sampled(data, max_points))
        .mark_circle(size=16, opacity=0.5)
        .encode(
            x=x,
            y=alt.Y("bdnf_pg_ml:Q", scale=alt.Scale(type="log")),
            color=alt.Color("censoring:N"),
            xOffset="jitter:Q",
            tooltip=["sample_id", "plate_id", "bdnf_pg_ml", "censoring"],
        )
        .transform_calculate(jitter="random()")
    )
    return alt.layer(*layers, points).properties(height=320)


def bdnf_vs_platelets(df: pd.DataFrame, max_points: int = MAX_POINTS) -> alt.Chart:
    """BDNF against platelet count per sample type (log-log; platelets are the main BDNF store), sampled points."""
    data = _sampled(df[(df["bdnf_pg_ml"] > 0) & (df["platelet_count"] > 0)], max_points)
    return (
        alt.Chart(data)
        .mark_circle(size=16, opacity=0.5)
        .encode(
            x=alt.X("platelet_count:Q", title="platelet count (10^9/L)", scale=alt.Scale(type="log", zero=False)),
            y=alt.Y("bdnf_pg_ml:Q", title="BDNF (pg/mL)", scale=alt.Scale(type="log")),
            color=alt.Color("sample_type:N", title="sample type"),
            tooltip=["sample_id", "plate_id", "sample_type", "platelet_count", "bdnf_pg_ml"],
        )
        .properties(height=320)
    )


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
        lines = pd.DataFrame(
            [
                {"band": label, "y": mean + k * sd}
                for k, label in ((0, "mean"), (1, "+1 SD"), (-1, "-1 SD"), (2, "+2 SD"), (-2, "-2 SD"), (3, "+3 SD"), (-3, "-3 SD"))
            ]
        )
        dash = alt.condition(alt.datum.band == "mean", alt.value([1, 0]), alt.value([4, 4]))
        layers.insert(0, alt.Chart(lines).mark_rule(color="#888").encode(y="y:Q", strokeDash=dash, tooltip=["band", "y"]))
    return alt.layer(*layers).properties(height=320)


def _by_plate(shifts: pd.DataFrame) -> pd.DataFrame:
    """One row per plate in the frame's (run) order: its position, 'id · name' label (names need not be unique),
    kit lot and read time as text (tooltips)."""
    return pd.DataFrame(
        {
            "run_order": np.arange(1, len(shifts) + 1),
            "plate": shifts["plate_id"].astype(int).astype(str).to_numpy() + " · " + shifts["plate"].astype(str).to_numpy(),
            "kit_lot": shifts["kit_lot"].fillna("(no kit lot)").astype(str).to_numpy(),
            "read_time": shifts["read_time"].astype(str).str.slice(0, 16).to_numpy(),
        }
    )


def _run_order_x(n: int) -> alt.X:
    """Plates 1..n in run order, with half a plate of room at either end."""
    return alt.X(
        "run_order:Q",
        title="plate in run order",
        axis=alt.Axis(tickMinStep=1),
        scale=alt.Scale(domain=[0.5, n + 0.5], nice=False, zero=False),
    )


def check_pool_chart(shifts: pd.DataFrame, pool: str) -> alt.LayerChart:
    """The independent check pool's geometric mean per plate, before and after the correction, in run order."""
    plates = _by_plate(shifts)
    long = pd.concat(
        [
            plates.assign(when=when, pg_ml=shifts[column].astype(float).to_numpy())
            for when, column in (("before", "check_before_pg_ml"), ("after", "check_after_pg_ml"))
        ],
        ignore_index=True,
    )
    long = long[long["pg_ml"].notna()]
    line = alt.Chart().mark_line(strokeWidth=1, opacity=0.6)
    points = (
        alt.Chart()
        .mark_point(filled=True, size=40)
        .encode(tooltip=["plate", "kit_lot", "read_time", "when", alt.Tooltip("pg_ml:Q", format=".4g")])
    )
    return (
        alt.layer(line, points, data=long)
        .encode(
            x=_run_order_x(len(plates)),
            y=alt.Y("pg_ml:Q", title=f"{pool} geometric mean (pg/mL)", scale=alt.Scale(zero=False), axis=alt.Axis(format=",.0f")),
            color=alt.Color(
                "when:N", title=None, sort=["before", "after"], scale=alt.Scale(domain=["before", "after"], range=["#9e9e9e", "#1f77b4"])
            ),
        )
        .properties(height=300)
    )


def shift_chart(shifts: pd.DataFrame, as_factor: bool = True) -> alt.LayerChart:
    """Each plate's shift (log, subtracted) or factor exp(shift) with its 95% CI bar, coloured by kit lot, in run
    order, with the no-shift line."""
    df = _by_plate(shifts)
    values = {c: shifts[c].astype(float).to_numpy() for c in ("shift", "ci_low", "ci_high")}
    df = df.assign(shift=values["shift"], ci_low=values["ci_low"], ci_high=values["ci_high"], n=shifts["n"].to_numpy())
    if as_factor:
        df = df.assign(y=np.exp(df["shift"]), low=np.exp(df["ci_low"]), high=np.exp(df["ci_high"]))
        title, ref = "factor exp(shift): plate read / target", 1.0
    else:
        df = df.assign(y=df["shift"], low=df["ci_low"], high=df["ci_high"])
        title, ref = "shift (natural log, subtracted)", 0.0
    df = df[df["y"].notna()]
    scale = alt.Scale(type="log" if as_factor else "linear", zero=False, nice=False, padding=12)
    x = _run_order_x(len(shifts))
    colour = alt.Color("kit_lot:N", title="kit lot", scale=alt.Scale(scheme="tableau10"))
    bars = (
        alt.Chart().mark_rule(strokeWidth=2, opacity=0.6).encode(x=x, y=alt.Y("low:Q", title=title, scale=scale), y2="high:Q", color=colour)
    )
    points = (
        alt.Chart()
        .mark_point(filled=True, size=50)
        .encode(
            x=x,
            y=alt.Y("y:Q", title=title, scale=scale),
            color=colour,
            tooltip=[
                "plate",
                "kit_lot",
                "read_time",
                alt.Tooltip("shift:Q", format="+.3f"),
                alt.Tooltip("ci_low:Q", format="+.3f"),
                alt.Tooltip("ci_high:Q", format="+.3f"),
                alt.Tooltip("y:Q", title="factor" if as_factor else "shift", format=".3f"),
                "n",
            ],
        )
    )
    rule = alt.Chart(pd.DataFrame({"ref": [ref]})).mark_rule(color="#888", strokeDash=[4, 4]).encode(y="ref:Q")
    return alt.layer(alt.layer(bars, points, data=df), rule).properties(height=320)


def variance_shares_chart(shares: pd.DataFrame) -> alt.Chart:
    """Variance shares (component, when, share in 0..1) as bars grouped by component, before beside after."""
    return (
        alt.Chart(shares)
        .mark_bar()
        .encode(
            x=alt.X("component:N", sort=["plate", "kit_lot", "residual"], title=None),
            xOffset=alt.XOffset("when:N", sort=["before", "after"]),
            y=alt.Y("share:Q", title="share of sample variance", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
            color=alt.Color(
                "when:N", title=None, sort=["before", "after"], scale=alt.Scale(domain=["before", "after"], range=["#9e9e9e", "#1f77b4"])
            ),
            tooltip=["component", "when", alt.Tooltip("share:Q", format=".1%")],
        )
        .properties(height=280)
    )
