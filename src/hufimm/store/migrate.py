"""Alembic, driven from code.

Every package of hufimm that owns tables keeps its revisions in ``<package>/migrations/`` as
its own Alembic branch (first revision: ``branch_labels=("<package>",)``).  The version
locations are discovered here, so adding a module's tables never touches another module's files,
and ``upgrade`` applies all heads at once.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from hufimm.store.db import Database


def migration_locations() -> list[Path]:
    """Every ``hufimm/<package>/migrations`` folder, in a stable order."""
    root = Path(str(resources.files("hufimm")))
    return sorted(p for p in root.glob("*/migrations") if p.is_dir())


def alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "alembic"))
    config.set_main_option("path_separator", "os")
    config.set_main_option(
        "version_locations", os.pathsep.join(str(p) for p in migration_locations())
    )
    config.attributes["connection"] = connection
    return config


def upgrade(db: Database, target: str = "heads") -> list[str]:
    """Bring the schema to ``target`` (every branch's head by default); returns the new heads."""
    with db.begin() as conn:
        command.upgrade(alembic_config(conn), target)
    return current_heads(db)


def current_heads(db: Database) -> list[str]:
    with db.read() as conn:
        return sorted(MigrationContext.configure(conn).get_current_heads())
