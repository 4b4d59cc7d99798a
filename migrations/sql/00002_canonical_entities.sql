-- The canonical entity tables, one per entity type, each with the same
-- provenance columns. Rows are derived from scenario_entities when a scenario
-- is saved; columns are nullable because generated entities vary.

-- +goose Up
CREATE TABLE patients (
    id               VARCHAR,
    mrn              VARCHAR,
    ssn              VARCHAR,
    given_name       VARCHAR,
    middle_name      VARCHAR,
    family_name      VARCHAR,
    birth_date       DATE,
    gender           VARCHAR,
    race             VARCHAR,
    ethnicity        VARCHAR,
    language         VARCHAR,
    street_address   VARCHAR,
    city             VARCHAR,
    state            VARCHAR,
    postal_code      VARCHAR,
    country          VARCHAR,
    phone            VARCHAR,
    email            VARCHAR,
    deceased         BOOLEAN,
    death_date       DATE,
    scenario_id     VARCHAR NOT NULL,
    source_type      VARCHAR,
    source_system    VARCHAR,
    skill_used       VARCHAR,
    generation_seed  BIGINT,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX patients_scenario ON patients (scenario_id);

CREATE TABLE encounters (
    encounter_id     VARCHAR,
    patient_mrn      VARCHAR,
    class_code       VARCHAR,
    status           VARCHAR,
    admission_time   TIMESTAMP,
    discharge_time   TIMESTAMP,
    facility         VARCHAR,
    department       VARCHAR,
    chief_complaint  VARCHAR,
    admitting_diagnosis VARCHAR,
    discharge_disposition VARCHAR,
    attending_physician VARCHAR,
    scenario_id     VARCHAR NOT NULL,
    source_type      VARCHAR,
    source_system    VARCHAR,
    skill_used       VARCHAR,
    generation_seed  BIGINT,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX encounters_scenario ON encounters (scenario_id);

CREATE TABLE diagnoses (
    id               VARCHAR,
    code             VARCHAR,
    description      VARCHAR,
    type             VARCHAR,
    patient_mrn      VARCHAR,
    encounter_id     VARCHAR,
    diagnosed_date   DATE,
    resolved_date    DATE,
    scenario_id     VARCHAR NOT NULL,
    source_type      VARCHAR,
    source_system    VARCHAR,
    skill_used       VARCHAR,
    generation_seed  BIGINT,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX diagnoses_scenario ON diagnoses (scenario_id);

CREATE TABLE medications (
    id               VARCHAR,
    name             VARCHAR,
    code             VARCHAR,
    dose             VARCHAR,
    route            VARCHAR,
    frequency        VARCHAR,
    patient_mrn      VARCHAR,
    encounter_id     VARCHAR,
    start_date       TIMESTAMP,
    end_date         TIMESTAMP,
    status           VARCHAR,
    prescriber       VARCHAR,
    indication       VARCHAR,
    scenario_id     VARCHAR NOT NULL,
    source_type      VARCHAR,
    source_system    VARCHAR,
    skill_used       VARCHAR,
    generation_seed  BIGINT,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX medications_scenario ON medications (scenario_id);

CREATE TABLE lab_results (
    id               VARCHAR,
    test_name        VARCHAR,
    loinc_code       VARCHAR,
    value            VARCHAR,
    unit             VARCHAR,
    reference_range  VARCHAR,
    abnormal_flag    VARCHAR,
    patient_mrn      VARCHAR,
    encounter_id     VARCHAR,
    collected_time   TIMESTAMP,
    resulted_time    TIMESTAMP,
    performing_lab   VARCHAR,
    scenario_id     VARCHAR NOT NULL,
    source_type      VARCHAR,
    source_system    VARCHAR,
    skill_used       VARCHAR,
    generation_seed  BIGINT,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX lab_results_scenario ON lab_results (scenario_id);

CREATE TABLE vital_signs (
    id               VARCHAR,
    patient_mrn      VARCHAR,
    encounter_id     VARCHAR,
    observation_time TIMESTAMP,
    temperature      DECIMAL(5,2),
    heart_rate       INTEGER,
    respiratory_rate INTEGER,
    systolic_bp      INTEGER,
    diastolic_bp     INTEGER,
    spo2             INTEGER,
    height_cm        DECIMAL(5,2),
    weight_kg        DECIMAL(6,2),
    scenario_id     VARCHAR NOT NULL,
    source_type      VARCHAR,
    source_system    VARCHAR,
    skill_used       VARCHAR,
    generation_seed  BIGINT,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX vital_signs_scenario ON vital_signs (scenario_id);

CREATE TABLE orders (
    order_id         VARCHAR,
    patient_mrn      VARCHAR,
    encounter_id     VARCHAR,
    order_type       VARCHAR,
    code             VARCHAR,
    code_system      VARCHAR,
    description      VARCHAR,
    priority         VARCHAR,
    status           VARCHAR,
    ordered_datetime TIMESTAMP,
    resulted_datetime TIMESTAMP,
    ordering_provider_npi VARCHAR,
    clinical_indication VARCHAR,
    scenario_id     VARCHAR NOT NULL,
    source_type      VARCHAR,
    source_system    VARCHAR,
    skill_used       VARCHAR,
    generation_seed  BIGINT,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX orders_scenario ON orders (scenario_id);

CREATE TABLE clinical_notes (
    id               VARCHAR,
    patient_mrn      VARCHAR,
    encounter_id     VARCHAR,
    note_type        VARCHAR,
    note_datetime    TIMESTAMP,
    author           VARCHAR,
    content          VARCHAR,
    scenario_id     VARCHAR NOT NULL,
    source_type      VARCHAR,
    source_system    VARCHAR,
    skill_used       VARCHAR,
    generation_seed  BIGINT,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX clinical_notes_scenario ON clinical_notes (scenario_id);

CREATE TABLE members (
    id               VARCHAR,
    member_id        VARCHAR,
    subscriber_id    VARCHAR,
    relationship_code VARCHAR,
    given_name       VARCHAR,
    family_name      VARCHAR,
    birth_date       DATE,
    gender           VARCHAR,
    street_address   VARCHAR,
    city             VARCHAR,
    state            VARCHAR,
    postal_code      VARCHAR,
    group_id         VARCHAR,
    plan_code        VARCHAR,
    coverage_start   DATE,
    coverage_end     DATE,
    pcp_npi          VARCHAR,
    scenario_id     VARCHAR NOT NULL,
    source_type      VARCHAR,
    source_system    VARCHAR,
    skill_used       VARCHAR,
    generation_seed  BIGINT,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX members_scenario ON members (scenario_id);

CREATE TABLE claims (
    claim_id         VARCHAR,
    claim_type       VARCHAR,
    member_id        VARCHAR,
    subscriber_id    VARCHAR,
    provider_npi     VARCHAR,
    facility_npi     VARCHAR,
    service_date     DATE,
    admission_date   DATE,
    discharge_date   DATE,
    place_of_service VARCHAR,
    principal_diagnosis VARCHAR,
    other_diagnoses  JSON,
    total_charge     DECIMAL(12,2),
    total_allowed    DECIMAL(12,2),
    total_paid       DECIMAL(12,2),
    member_responsibility DECIMAL(12,2),
    scenario_id     VARCHAR NOT NULL,
    source_type      VARCHAR,
    source_system    VARCHAR,
    skill_used       VARCHAR,
    generation_seed  BIGINT,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX claims_scenario ON claims (scenario_id);

CREATE TABLE claim_lines (
    id               VARCHAR,
    claim_id         VARCHAR,
    line_number      INTEGER,
    procedure_code   VARCHAR,
    procedure_modifiers JSON,
    service_date     DATE,
    units            DECIMAL(6,2),
    charge_amount    DECIMAL(12,2),
    allowed_amount   DECIMAL(12,2),
    paid_amount      DECIMAL(12,2),
    revenue_code     VARCHAR,
    ndc_code         VARCHAR,
    scenario_id     VARCHAR NOT NULL,
    source_type      VARCHAR,
    source_system    VARCHAR,
    skill_used       VARCHAR,
    generation_seed  BIGINT,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX claim_lines_scenario ON claim_lines (scenario_id);

CREATE TABLE prescriptions (
    prescription_number VARCHAR,
    patient_mrn      VARCHAR,
    member_id        VARCHAR,
    ndc              VARCHAR,
    drug_name        VARCHAR,
    quantity_prescribed DECIMAL(10,2),
    days_supply      INTEGER,
    refills_authorized INTEGER,
    prescriber_npi   VARCHAR,
    written_date     DATE,
    expiration_date  DATE,
    directions       VARCHAR,
    scenario_id     VARCHAR NOT NULL,
    source_type      VARCHAR,
    source_system    VARCHAR,
    skill_used       VARCHAR,
    generation_seed  BIGINT,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX prescriptions_scenario ON prescriptions (scenario_id);

CREATE TABLE pharmacy_claims (
    claim_id         VARCHAR,
    transaction_code VARCHAR,
    service_date     DATE,
    pharmacy_npi     VARCHAR,
    member_id        VARCHAR,
    cardholder_id    VARCHAR,
    bin              VARCHAR,
    pcn              VARCHAR,
    group_number     VARCHAR,
    prescription_number VARCHAR,
    fill_number      INTEGER,
    ndc              VARCHAR,
    quantity_dispensed DECIMAL(10,2),
    days_supply      INTEGER,
    prescriber_npi   VARCHAR,
    gross_amount_due DECIMAL(12,2),
    patient_pay_amount DECIMAL(12,2),
    scenario_id     VARCHAR NOT NULL,
    source_type      VARCHAR,
    source_system    VARCHAR,
    skill_used       VARCHAR,
    generation_seed  BIGINT,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX pharmacy_claims_scenario ON pharmacy_claims (scenario_id);

CREATE TABLE subjects (
    id               VARCHAR,
    subject_id       VARCHAR,
    usubjid          VARCHAR,
    study_id         VARCHAR,
    site_id          VARCHAR,
    patient_ref      VARCHAR,
    arm              VARCHAR,
    status           VARCHAR,
    enrollment_date  DATE,
    birth_date       DATE,
    sex              VARCHAR,
    race             VARCHAR,
    scenario_id     VARCHAR NOT NULL,
    source_type      VARCHAR,
    source_system    VARCHAR,
    skill_used       VARCHAR,
    generation_seed  BIGINT,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX subjects_scenario ON subjects (scenario_id);

CREATE TABLE trial_visits (
    id               VARCHAR,
    subject_id       VARCHAR,
    study_id         VARCHAR,
    visit_num        INTEGER,
    visit_name       VARCHAR,
    planned_day      INTEGER,
    actual_date      DATE,
    status           VARCHAR,
    scenario_id     VARCHAR NOT NULL,
    source_type      VARCHAR,
    source_system    VARCHAR,
    skill_used       VARCHAR,
    generation_seed  BIGINT,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX trial_visits_scenario ON trial_visits (scenario_id);

CREATE TABLE adverse_events (
    id               VARCHAR,
    subject_id       VARCHAR,
    study_id         VARCHAR,
    term             VARCHAR,
    meddra_code      VARCHAR,
    severity         VARCHAR,
    serious          BOOLEAN,
    related          VARCHAR,
    onset_date       DATE,
    resolution_date  DATE,
    outcome          VARCHAR,
    scenario_id     VARCHAR NOT NULL,
    source_type      VARCHAR,
    source_system    VARCHAR,
    skill_used       VARCHAR,
    generation_seed  BIGINT,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX adverse_events_scenario ON adverse_events (scenario_id);

CREATE TABLE exposures (
    id               VARCHAR,
    subject_id       VARCHAR,
    study_id         VARCHAR,
    treatment        VARCHAR,
    dose             DECIMAL(10,3),
    dose_unit        VARCHAR,
    route            VARCHAR,
    start_date       DATE,
    end_date         DATE,
    scenario_id     VARCHAR NOT NULL,
    source_type      VARCHAR,
    source_system    VARCHAR,
    skill_used       VARCHAR,
    generation_seed  BIGINT,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX exposures_scenario ON exposures (scenario_id);

-- +goose Down
DROP TABLE exposures;
DROP TABLE adverse_events;
DROP TABLE trial_visits;
DROP TABLE subjects;
DROP TABLE pharmacy_claims;
DROP TABLE prescriptions;
DROP TABLE claim_lines;
DROP TABLE claims;
DROP TABLE members;
DROP TABLE clinical_notes;
DROP TABLE orders;
DROP TABLE vital_signs;
DROP TABLE lab_results;
DROP TABLE medications;
DROP TABLE diagnoses;
DROP TABLE encounters;
DROP TABLE patients;
