-- Reference data in schema population, after the public layouts: CDC PLACES
-- (county and tract, one column per measure's crude prevalence, %), CDC/ATSDR
-- SVI (county and tract; percentile ranks rpl_* in 0..1, estimates ep_* in %),
-- and the Area Deprivation Index by census block group. Keyed by FIPS, with
-- state and county columns for the query tool's filters.

-- +goose Up
CREATE SCHEMA population;

CREATE TABLE population.places_county (
    county_fips      VARCHAR PRIMARY KEY,
    state_abbr       VARCHAR NOT NULL,
    state_name       VARCHAR,
    county_name      VARCHAR NOT NULL,
    total_population BIGINT,
    data_year        INTEGER,
    access2_crudeprev DOUBLE,
    arthritis_crudeprev DOUBLE,
    bphigh_crudeprev DOUBLE,
    casthma_crudeprev DOUBLE,
    chd_crudeprev DOUBLE,
    copd_crudeprev DOUBLE,
    csmoking_crudeprev DOUBLE,
    depression_crudeprev DOUBLE,
    diabetes_crudeprev DOUBLE,
    highchol_crudeprev DOUBLE,
    lpa_crudeprev DOUBLE,
    obesity_crudeprev DOUBLE,
    stroke_crudeprev DOUBLE
);
CREATE INDEX places_county_state ON population.places_county (state_abbr);

CREATE TABLE population.places_tract (
    tract_fips       VARCHAR PRIMARY KEY,
    county_fips      VARCHAR NOT NULL,
    state_abbr       VARCHAR NOT NULL,
    state_name       VARCHAR,
    county_name      VARCHAR,
    total_population BIGINT,
    data_year        INTEGER,
    access2_crudeprev DOUBLE,
    arthritis_crudeprev DOUBLE,
    bphigh_crudeprev DOUBLE,
    casthma_crudeprev DOUBLE,
    chd_crudeprev DOUBLE,
    copd_crudeprev DOUBLE,
    csmoking_crudeprev DOUBLE,
    depression_crudeprev DOUBLE,
    diabetes_crudeprev DOUBLE,
    highchol_crudeprev DOUBLE,
    lpa_crudeprev DOUBLE,
    obesity_crudeprev DOUBLE,
    stroke_crudeprev DOUBLE
);
CREATE INDEX places_tract_county ON population.places_tract (county_fips);
CREATE INDEX places_tract_state ON population.places_tract (state_abbr);

CREATE TABLE population.svi_county (
    county_fips     VARCHAR PRIMARY KEY,
    state_fips      VARCHAR NOT NULL,
    state_name      VARCHAR,
    state_abbr      VARCHAR NOT NULL,
    county_name     VARCHAR NOT NULL,
    e_totpop        BIGINT,
    rpl_themes      DOUBLE,
    rpl_theme1      DOUBLE,
    rpl_theme2      DOUBLE,
    rpl_theme3      DOUBLE,
    rpl_theme4      DOUBLE,
    ep_pov150       DOUBLE,
    ep_unemp        DOUBLE,
    ep_uninsur      DOUBLE,
    ep_nohsdp       DOUBLE,
    ep_age65        DOUBLE,
    ep_age17        DOUBLE,
    ep_disabl       DOUBLE,
    ep_minrty       DOUBLE,
    ep_limeng       DOUBLE,
    ep_noveh        DOUBLE
);
CREATE INDEX svi_county_state ON population.svi_county (state_abbr);

CREATE TABLE population.svi_tract (
    tract_fips      VARCHAR PRIMARY KEY,
    county_fips     VARCHAR NOT NULL,
    state_fips      VARCHAR NOT NULL,
    state_name      VARCHAR,
    state_abbr      VARCHAR NOT NULL,
    county_name     VARCHAR,
    location        VARCHAR,
    e_totpop        BIGINT,
    rpl_themes      DOUBLE,
    rpl_theme1      DOUBLE,
    rpl_theme2      DOUBLE,
    rpl_theme3      DOUBLE,
    rpl_theme4      DOUBLE,
    ep_pov150       DOUBLE,
    ep_unemp        DOUBLE,
    ep_uninsur      DOUBLE,
    ep_nohsdp       DOUBLE,
    ep_age65        DOUBLE,
    ep_age17        DOUBLE,
    ep_disabl       DOUBLE,
    ep_minrty       DOUBLE,
    ep_limeng       DOUBLE,
    ep_noveh        DOUBLE
);
CREATE INDEX svi_tract_county ON population.svi_tract (county_fips);
CREATE INDEX svi_tract_state ON population.svi_tract (state_abbr);

CREATE TABLE population.adi_blockgroup (
    blockgroup_fips VARCHAR PRIMARY KEY,
    county_fips     VARCHAR NOT NULL,
    state_fips      VARCHAR NOT NULL,
    state_abbr      VARCHAR,
    gisjoin         VARCHAR,
    adi_natrank     INTEGER,
    adi_staternk    INTEGER
);
CREATE INDEX adi_blockgroup_county ON population.adi_blockgroup (county_fips);
CREATE INDEX adi_blockgroup_state ON population.adi_blockgroup (state_abbr);

-- +goose Down
DROP TABLE population.adi_blockgroup;
DROP TABLE population.svi_tract;
DROP TABLE population.svi_county;
DROP TABLE population.places_tract;
DROP TABLE population.places_county;
DROP SCHEMA population;
