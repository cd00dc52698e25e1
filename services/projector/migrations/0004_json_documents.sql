-- The read model's JSON columns hold whole documents that the projector writes and reads
-- back as text (no query looks inside them). As jsonb, PostgreSQL parsed each into its
-- binary form on every write and printed it again on every read; json keeps the text as
-- it came. And a bank's summary and snapshot or a decision (2 to 4 kB) passed the TOAST
-- threshold, where PostgreSQL compressed them with pglz and moved them out of line.
-- EXTERNAL never compresses, and toast_tuple_target keeps rows of up to 8 kB inline.
-- Measured on one core, COPYing 3.6 kB decisions: 39.5 us of PostgreSQL's CPU a row as
-- compressed jsonb, 13.7 us as inline json. More disk, much less CPU on every write of
-- these rows, live and in rebuilds.
ALTER TABLE projector.events ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE projector.credit_banks ALTER COLUMN summary TYPE json USING summary::json;
ALTER TABLE projector.progress ALTER COLUMN decision TYPE json USING decision::json;
ALTER TABLE projector.credit_banks ALTER COLUMN summary SET STORAGE EXTERNAL;
ALTER TABLE projector.credit_banks ALTER COLUMN snapshot SET STORAGE EXTERNAL;
ALTER TABLE projector.progress ALTER COLUMN decision SET STORAGE EXTERNAL;
ALTER TABLE projector.credit_banks SET (toast_tuple_target = 8160);
ALTER TABLE projector.progress SET (toast_tuple_target = 8160);
