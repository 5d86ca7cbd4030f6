"""Alembic environment of the raw store, run on the connection that store.base.migrate passes."""

from alembic import context

from slimline.store.schema import raw_metadata

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=raw_metadata,
    version_table=config.get_main_option("version_table"),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
