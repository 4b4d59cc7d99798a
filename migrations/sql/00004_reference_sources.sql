-- Where the rows of each population.* table came from: the embedded sample
-- (synthetic values, for tests and demos) or an imported public file. One
-- row per table, replaced together with the table's contents, so the query
-- tool can say what kind of data it is showing.

-- +goose Up
CREATE TABLE population.reference_sources (
    table_name  VARCHAR PRIMARY KEY,
    source      VARCHAR NOT NULL,   -- 'sample' or 'import'
    description VARCHAR,
    file_name   VARCHAR,
    row_count   BIGINT NOT NULL,
    loaded_at   TIMESTAMP NOT NULL  -- UTC
);

-- +goose Down
DROP TABLE population.reference_sources;
