"""Alembic environment for imgrec's tables; run by :func:`imgrec.store.database.migrate`.

imgrec passes an open connection in ``config.attributes["connection"]``. Its version table is
``imgrec_alembic_version`` because Optuna keeps its own ``alembic_version`` in the same database.
"""

from __future__ import annotations

from alembic import context

from imgrec.store.tables import Base

VERSION_TABLE = "imgrec_alembic_version"

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    include_name=lambda name, type_, _parent: type_ != "table" or name in Base.metadata.tables,
)
with context.begin_transaction():
    context.run_migrations()
