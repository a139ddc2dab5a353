"""The Alembic migrations build exactly the tables the models describe, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from zhida.ledger.tables import Base


def test_migrations_match_the_models(ledger_engine):
    with ledger_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_upgrade_twice_changes_nothing(ledger_engine):
    from zhida.ledger.database import upgrade

    before = sorted(inspect(ledger_engine).get_table_names())
    upgrade(ledger_engine)
    assert sorted(inspect(ledger_engine).get_table_names()) == before
    assert "alembic_version" in before and "awards" in before
