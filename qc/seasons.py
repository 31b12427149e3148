"""The season of a collection date, by hemisphere and convention (pure; labdb.samples applies the configured one).

Serum BDNF moves with the season of collection, so every sample carries one. Conventions:
- meteorological (the default): whole months, DJF winter, MAM spring, JJA summer, SON autumn in the north;
- astronomical: from the usual equinox and solstice dates (20 Mar, 21 Jun, 22 Sep, 21 Dec; they can move by a day).
The southern hemisphere is six months on: its summer is the north's winter.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

SEASON_CONVENTIONS = ("meteorological", "astronomical")
# Where each northern season starts, as (month, day, season), in calendar order.
SEASON_STARTS = {
    "meteorological": ((3, 1, "spring"), (6, 1, "summer"), (9, 1, "autumn"), (12, 1, "winter")),
    "astronomical": ((3, 20, "spring"), (6, 21, "summer"), (9, 22, "autumn"), (12, 21, "winter")),
}
OPPOSITE = {"winter": "summer", "summer": "winter", "spring": "autumn", "autumn": "spring"}


def seasons_of(when: pd.Series, hemisphere: pd.Series | str = "north", convention: str = "meteorological") -> pd.Series:
    """Season of each collection time (None where unknown); `hemisphere` per row or one for all."""
    if convention not in SEASON_STARTS:
        raise ValueError(f"unknown season convention {convention!r}; expected one of {', '.join(SEASON_CONVENTIONS)}.")
    starts = SEASON_STARTS[convention]
    when = pd.to_datetime(pd.Series(when), errors="coerce")
    md = (when.dt.month * 100 + when.dt.day).to_numpy(dtype=float, na_value=np.nan)
    north = np.full(len(md), "winter", dtype=object)  # before the first start (Jan, Feb) and from the last one on
    for month, day, name in starts[:-1]:
        north[md >= month * 100 + day] = name
    last_month, last_day, _ = starts[-1]
    north[md >= last_month * 100 + last_day] = "winter"
    if isinstance(hemisphere, str):
        south = np.full(len(md), hemisphere == "south")
    else:
        south = np.asarray(pd.Series(hemisphere).to_numpy(dtype=object) == "south", dtype=bool)
    out = np.where(south, [OPPOSITE[s] for s in north], north).astype(object)
    out[np.isnan(md)] = None
    return pd.Series(out, index=when.index, dtype=object)


def season_of(when: datetime | None, hemisphere: str = "north", convention: str = "meteorological") -> str | None:
    """Season of one collection date (None when the date is unknown)."""
    if when is None or pd.isna(when):
        return None
    return seasons_of(pd.Series([when]), hemisphere, convention).iloc[0]
