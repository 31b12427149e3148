"""Settings read from the environment (LABDB_DATABASE_URL, ...), resolved at call time so tests can set them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///labdb.sqlite"
DEFAULT_MAX_UPLOAD_MB = 20.0
DEFAULT_SEASONS = "meteorological"


@dataclass(frozen=True)
class Settings:
    """What the system needs to know about its environment."""

    database_url: str
    user: str
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    seasons: str = DEFAULT_SEASONS  # the season convention, as written (checked by labdb.samples.season_convention)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def get_settings() -> Settings:
    """Settings from the environment: LABDB_DATABASE_URL (any SQLAlchemy URL), LABDB_USER, LABDB_MAX_UPLOAD_MB and
    LABDB_SEASONS (meteorological or astronomical). Every variable the system reads is read here."""
    try:
        max_mb = float(os.environ.get("LABDB_MAX_UPLOAD_MB") or DEFAULT_MAX_UPLOAD_MB)
    except ValueError:
        max_mb = DEFAULT_MAX_UPLOAD_MB
    return Settings(
        database_url=os.environ.get("LABDB_DATABASE_URL") or DEFAULT_DATABASE_URL,
        user=os.environ.get("LABDB_USER") or os.environ.get("USER") or "unknown",
        max_upload_mb=max_mb,
        seasons=os.environ.get("LABDB_SEASONS") or DEFAULT_SEASONS,
    )


def resource_dir(name: str) -> Path:
    """A top-level folder of the project (migrations, plate_templates), in a checkout or bundled in a wheel."""
    package = Path(__file__).resolve().parents[1]  # the labdb package (this file is labdb/core/config.py)
    for candidate in (package / "_bundled" / name, package.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the '{name}' folder next to {package}")
