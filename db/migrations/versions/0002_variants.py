"""variants: named configurations derived from the 80; runs.variant_id

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('variants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=200), nullable=False),
    sa.Column('overrides', sa.JSON(), nullable=False),
    sa.Column('parent', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('frozen_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['number'], ['configurations.number'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('variant_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_runs_variant_id'), ['variant_id'], unique=False)
        batch_op.create_foreign_key('fk_runs_variant_id_variants', 'variants', ['variant_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_constraint('fk_runs_variant_id_variants', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_runs_variant_id'))
        batch_op.drop_column('variant_id')

    op.drop_table('variants')
