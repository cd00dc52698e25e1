-- The read model's rendered views (a bank's summary and snapshot, a decision) run from 2
-- to 4 kB, past PostgreSQL's TOAST threshold, where it compresses them with pglz: that was
-- half of PostgreSQL's CPU time on every write of these rows (35 us a 3.6 kB decision
-- COPYed into jsonb; 19 us stored uncompressed, measured on one core). EXTERNAL keeps large
-- values out of line but uncompressed: more disk for much less CPU on the write path, live
-- and in rebuilds. Rows already written keep their compression until rewritten.
ALTER TABLE projector.credit_banks ALTER COLUMN summary SET STORAGE EXTERNAL;
ALTER TABLE projector.credit_banks ALTER COLUMN snapshot SET STORAGE EXTERNAL;
ALTER TABLE projector.progress ALTER COLUMN decision SET STORAGE EXTERNAL;
