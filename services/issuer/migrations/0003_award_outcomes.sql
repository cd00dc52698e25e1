-- Two more reasons an eligibility message ends without an award: an admin's fraud or
-- issued-in-error revocation blocks re-award, or the ledger's core refused the award
-- (a final 422, kept with its code and detail).
ALTER TABLE issuer.award_decisions DROP CONSTRAINT award_decisions_outcome_check;
ALTER TABLE issuer.award_decisions ADD CONSTRAINT award_decisions_outcome_check CHECK (
    outcome IN (
        'awarded', 'already_awarded', 'not_satisfied', 'no_rule_in_force', 'no_history',
        'award_blocked', 'refused_by_ledger'
    )
);
