"""ledger: one entry per partial reversal of a payout

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 10:00:00.000000

A transfer may be reversed in several parts (400, then the remaining 600). Each part is credited
by its own ledger entry, keyed by the transfer's cumulative ``amount_reversed`` after it
(``reversed_through``): UNIQUE (payout_id, reversed_through) replaces UNIQUE (payout_id, kind),
and a partial unique index keeps one debit per payout.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


KIND_MATCHES_BEFORE = (
    "(kind = 'credit' AND contribution_id IS NOT NULL AND amount_minor > 0)"
    " OR (kind = 'payout' AND payout_id IS NOT NULL AND amount_minor < 0)"
    " OR (kind = 'payout_reversal' AND payout_id IS NOT NULL AND amount_minor > 0)"
    " OR (kind = 'correction' AND reverses_entry_id IS NOT NULL)"
    " OR (kind = 'adjustment' AND contribution_id IS NOT NULL)"
)
KIND_MATCHES_AFTER = (
    "(kind = 'credit' AND contribution_id IS NOT NULL AND amount_minor > 0)"
    " OR (kind = 'payout' AND payout_id IS NOT NULL AND amount_minor < 0)"
    " OR (kind = 'payout_reversal' AND payout_id IS NOT NULL AND amount_minor > 0"
    " AND reversed_through IS NOT NULL)"
    " OR (kind = 'correction' AND reverses_entry_id IS NOT NULL)"
    " OR (kind = 'adjustment' AND contribution_id IS NOT NULL)"
)
DEBIT = sa.text("kind = 'payout'")


def upgrade():
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reversed_through', sa.BigInteger(), nullable=True))

    # Until now a payout had at most one reversal entry, and a further partial reversal was
    # not credited (nor added to the payout's amount_reversed): the payout's amount_reversed is
    # the cumulative total that entry brought it to.
    op.execute(
        "UPDATE ledger_entries SET reversed_through ="
        " (SELECT payouts.amount_reversed FROM payouts WHERE payouts.id = ledger_entries.payout_id)"
        " WHERE kind = 'payout_reversal'"
    )

    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('uq_ledger_entries_payout_id_kind'), type_='unique')
        batch_op.drop_constraint(op.f('ck_ledger_entries_kind_matches'), type_='check')
        batch_op.create_check_constraint(op.f('ck_ledger_entries_kind_matches'), KIND_MATCHES_AFTER)
        batch_op.create_unique_constraint(op.f('uq_ledger_entries_payout_id_reversed_through'), ['payout_id', 'reversed_through'])
        batch_op.create_index('uq_ledger_entries_payout_debit', ['payout_id'], unique=True, sqlite_where=DEBIT, postgresql_where=DEBIT)


def downgrade():
    # The old schema holds one reversal entry per payout; entries are never merged or deleted
    # (the ledger is append-only), so a ledger with several for one payout cannot go back.
    several = op.get_bind().scalar(sa.text(
        "SELECT count(*) FROM (SELECT payout_id FROM ledger_entries"
        " WHERE kind = 'payout_reversal' GROUP BY payout_id HAVING count(*) > 1) AS t"
    ))
    if several:
        raise RuntimeError(
            f"{several} payout(s) have several reversal entries in the ledger; the schema before"
            " revision 0004 allows one per payout, so this downgrade would lose credits."
        )

    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('uq_ledger_entries_payout_debit', sqlite_where=DEBIT, postgresql_where=DEBIT)
        batch_op.drop_constraint(op.f('uq_ledger_entries_payout_id_reversed_through'), type_='unique')
        batch_op.drop_constraint(op.f('ck_ledger_entries_kind_matches'), type_='check')
        batch_op.create_check_constraint(op.f('ck_ledger_entries_kind_matches'), KIND_MATCHES_BEFORE)
        batch_op.create_unique_constraint(op.f('uq_ledger_entries_payout_id_kind'), ['payout_id', 'kind'])
        batch_op.drop_column('reversed_through')
