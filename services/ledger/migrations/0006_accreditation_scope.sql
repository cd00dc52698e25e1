-- Accreditation over time: every (sector, highest level, assessment dates) period of an
-- institution, folded from InstitutionRegistered and the Accreditation* events by
-- domain.accreditation. A list of {"sector", "max_level_halves", "valid_from",
-- "valid_until"} objects (ISO dates, null for an open bound).
ALTER TABLE ledger.institutions
    ADD COLUMN accreditation jsonb NOT NULL DEFAULT '[]'::jsonb;

-- Institutions registered before this migration keep their meaning: each listed sector up
-- to max_level for every assessment date, or nothing if not accredited.
UPDATE ledger.institutions
SET accreditation = COALESCE(
    (SELECT jsonb_agg(jsonb_build_object(
                'sector', s, 'max_level_halves', max_level_halves,
                'valid_from', NULL, 'valid_until', NULL) ORDER BY s)
     FROM unnest(accredited_sectors) AS s),
    '[]'::jsonb)
WHERE accredited;
