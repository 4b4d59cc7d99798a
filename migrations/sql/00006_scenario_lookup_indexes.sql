-- Scenarios are looked up one at a time, by id (load, summary, delete, a
-- model's SELECT … WHERE id = …) and by name (every save, load by name):
-- ART indexes turn those scans of the whole table (1.4 ms on a 1.1 GB file)
-- into lookups (0.33 ms). Only this small table gets them (00005 explains
-- why the others have none); its indexes are a few MB, rewritten at a
-- checkpoint, which the write side runs off the caller's path when it
-- lets go of the file (dbx.WithWriteLinger). Not UNIQUE: a file with
-- duplicates (scripts/check reports them) still migrates; the write path
-- keeps ids and names unique.

-- +goose Up
CREATE INDEX scenarios_id ON scenarios (id);
CREATE INDEX scenarios_name ON scenarios (name);

-- +goose Down
DROP INDEX scenarios_name;
DROP INDEX scenarios_id;
