-- Scenarios: named sets of generated entities, their entities as JSON, and tags.
-- No foreign keys: DuckDB cannot cascade, and the writers keep these consistent
-- inside one write window (scripts/check verifies it).

-- +goose Up
CREATE TABLE scenarios (
    id          VARCHAR PRIMARY KEY,
    name        VARCHAR NOT NULL UNIQUE,
    description VARCHAR,
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    updated_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    metadata    JSON
);

CREATE TABLE scenario_entities (
    scenario_id VARCHAR NOT NULL,
    entity_type VARCHAR NOT NULL,
    entity_id   VARCHAR NOT NULL,
    entity_data JSON NOT NULL,
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    UNIQUE (scenario_id, entity_type, entity_id)
);

CREATE TABLE scenario_tags (
    scenario_id VARCHAR NOT NULL,
    tag         VARCHAR NOT NULL,
    UNIQUE (scenario_id, tag)
);

CREATE INDEX scenario_tags_tag ON scenario_tags (tag);

-- +goose Down
DROP TABLE scenario_tags;
DROP TABLE scenario_entities;
DROP TABLE scenarios;
