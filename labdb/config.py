"""Settings read from the environment (LABDB_DATABASE_URL, ...), resolved at call time so tests can set them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///labdb.sqlite"


@dataclass(frozen=True)
class Settings:
    """What the system needs to know about its environment."""

    database_url: str
    user: str


def get_settings() -> Settings:
    """Settings from the environment: LABDB_DATABASE_URL (any SQLAlchemy URL), LABDB_USER."""
    return Settings(
        database_url=os.environ.get("LABDB_DATABASE_URL") or DEFAULT_DATABASE_URL,
        user=os.environ.get("LABDB_USER") or os.environ.get("USER") or "unknown",
    )


def resource_dir(name: str) -> Path:
    """A top-level folder of the project (migrations, plate_templates), in a checkout or bundled in a wheel."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_bundled" / name, package.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the '{name}' folder next to {package}")
