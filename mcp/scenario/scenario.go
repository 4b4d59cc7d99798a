// Package scenario is the HealthSim scenario data access, written once with
// sqlx over [dbx.DB]: the MCP tool handlers and the maintenance scripts both
// use it, so no scenario SQL lives anywhere else.
//
// Reads (Load, List, Summary, ResolveID) go through the read pool. Changes
// (Save, Delete) each run in one dbx write window, so a failure leaves
// nothing behind. The schema is the one of package migrations.
package scenario

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/healthsim/healthsim-go/dbx"
	"github.com/jmoiron/sqlx"
)

// ErrNotFound is returned (wrapped) when no scenario has the given name or id.
var ErrNotFound = errors.New("scenario not found")

// ErrExists is returned (wrapped) by Save when a scenario of that name
// exists and overwrite was not asked for.
var ErrExists = errors.New("scenario already exists")

// Store reads and writes scenarios in a HealthSim database. It is safe for
// concurrent use.
type Store struct {
	db *dbx.DB

	mu     sync.Mutex
	tables map[string]*tableSQL // canonical table -> its statements, built once
}

// New returns a Store over db, which must have the migrations applied.
func New(db *dbx.DB) *Store { return &Store{db: db} }

// entityTypes are the canonical entity tables, in schema order.
var entityTypes = []string{
	"patients", "encounters", "diagnoses", "medications", "lab_results",
	"vital_signs", "orders", "clinical_notes", "members", "claims",
	"claim_lines", "prescriptions", "pharmacy_claims", "subjects",
	"trial_visits", "adverse_events", "exposures",
}

// singular maps the singular form of each entity type to its table.
var singular = map[string]string{
	"patient": "patients", "encounter": "encounters", "diagnosis": "diagnoses",
	"medication": "medications", "lab_result": "lab_results",
	"vital_sign": "vital_signs", "order": "orders",
	"clinical_note": "clinical_notes", "member": "members", "claim": "claims",
	"claim_line": "claim_lines", "prescription": "prescriptions",
	"pharmacy_claim": "pharmacy_claims", "subject": "subjects",
	"trial_visit": "trial_visits", "adverse_event": "adverse_events",
	"exposure": "exposures",
}

// idFields lists, per table, the entity fields that carry its id, in order
// of preference; tables not listed use "id".
var idFields = map[string][]string{
	"patients":        {"id", "patient_id", "mrn"},
	"encounters":      {"encounter_id", "id"},
	"orders":          {"order_id", "id"},
	"claims":          {"claim_id", "id"},
	"pharmacy_claims": {"claim_id", "id"},
	"prescriptions":   {"prescription_number", "id"},
}

// EntityTypes returns the canonical entity types (table names), in schema order.
func EntityTypes() []string { return slices.Clone(entityTypes) }

// CanonicalType returns the table name for an entity type given in plural
// or singular form (case and surrounding space ignored), and whether it is
// known.
func CanonicalType(t string) (string, bool) {
	t = strings.ToLower(strings.TrimSpace(t))
	if slices.Contains(entityTypes, t) {
		return t, true
	}
	table, ok := singular[t]
	return table, ok
}

// newID returns a new scenario id: a time-ordered UUID (version 7), so that
// rows written later carry larger ids and DuckDB's per-row-group min/max
// lets a lookup by scenario_id skip almost every row group — the entity
// tables have no index (see migration 00005).
func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

func entityIDFields(table string) []string {
	if f, ok := idFields[table]; ok {
		return f
	}
	return []string{"id"}
}

// ResolveID returns the id of the scenario whose id or name is nameOrID (an
// id wins over a name), or an error wrapping ErrNotFound.
func (s *Store) ResolveID(ctx context.Context, nameOrID string) (string, error) {
	id, _, err := resolve(ctx, s.db.Read(), nameOrID)
	return id, err
}

// resolve looks a scenario up by id, then by name, through q (the read pool
// or a write window's transaction).
func resolve(ctx context.Context, q sqlx.QueryerContext, nameOrID string) (id, name string, err error) {
	h, err := lookup(ctx, q, nameOrID)
	return h.ID, h.Name, err
}

// Link is how entities of one type refer to another: Column of each of
// Tables holds the value of RefColumn of the RefTable entity it belongs to.
type Link struct {
	Column    string
	Tables    []string
	RefTable  string
	RefColumn string
}

// Links are the references between the canonical tables, which joins
// follow. What a model is told about linking entities comes from them
// (see LinkHint), and a test checks them against the schema.
var Links = []Link{
	{"patient_mrn", []string{"encounters", "diagnoses", "medications", "lab_results", "vital_signs", "orders", "clinical_notes", "prescriptions"}, "patients", "mrn"},
	{"encounter_id", []string{"diagnoses", "medications", "lab_results", "vital_signs", "orders", "clinical_notes"}, "encounters", "encounter_id"},
	{"member_id", []string{"claims", "prescriptions", "pharmacy_claims"}, "members", "member_id"},
	{"claim_id", []string{"claim_lines"}, "claims", "claim_id"},
	{"subject_id", []string{"trial_visits", "adverse_events", "exposures"}, "subjects", "subject_id"},
	{"patient_ref", []string{"subjects"}, "patients", "mrn"},
}

// LinkHint tells a model how to link entities so that SQL joins find them.
func LinkHint() string {
	var parts []string
	for _, l := range Links {
		parts = append(parts, fmt.Sprintf("%s.%s = %s.%s", strings.Join(l.Tables, "/"), l.Column, l.RefTable, l.RefColumn))
	}
	return "Link related entities by these fields, which SQL joins follow: " + strings.Join(parts, "; ") +
		". Fields that match no column of the type's table are kept in the entity's JSON only, and the answer lists them in json_only_fields."
}
