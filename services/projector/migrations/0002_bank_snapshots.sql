-- Each learner's folded bank beside its summary (services/projector/bank_snapshot.py): a
-- cache miss decodes one row instead of folding the learner's history. NULL for rows
-- written before this migration; those learners are folded from their history once.
ALTER TABLE projector.credit_banks ADD COLUMN snapshot bytea;
