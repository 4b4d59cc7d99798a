package scenario

import (
	"context"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/jmoiron/sqlx"
)

func TestTmpSave(t *testing.T) {
	path := os.Getenv("TMPDB")
	if path == "" {
		t.Skip()
	}
	ctx := context.Background()
	db, err := dbx.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if ddl := os.Getenv("TMPDDL"); ddl != "" {
		start := time.Now()
		if err := db.Write(ctx, func(tx *sqlx.Tx) error { _, err := tx.Exec(ddl); return err }); err != nil {
			t.Fatal(err)
		}
		t.Logf("ddl %v", time.Since(start))
	}
	s := New(db)
	n := 40
	var totals []time.Duration
	gap, _ := time.ParseDuration(os.Getenv("TMPGAP"))
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("trace-%d-%d", time.Now().UnixNano(), i)
		req := SaveRequest{Name: name, Tags: []string{"bench"}, Entities: map[string][]map[string]any{}}
		for p := 0; p < 5; p++ {
			mrn := fmt.Sprintf("%s-MRN-%d", name, p)
			req.Entities["patients"] = append(req.Entities["patients"], map[string]any{"id": fmt.Sprintf("%s-P%d", name, p), "mrn": mrn, "given_name": "Ana", "family_name": "Garcia", "birth_date": "1961-04-12", "gender": "female"})
			for e := 0; e < 2; e++ {
				req.Entities["encounters"] = append(req.Entities["encounters"], map[string]any{"encounter_id": fmt.Sprintf("%s-E%d-%d", name, p, e), "patient_mrn": mrn, "class_code": "AMB", "status": "finished", "admission_time": "2024-03-01T09:30:00"})
			}
			req.Entities["diagnoses"] = append(req.Entities["diagnoses"], map[string]any{"id": fmt.Sprintf("%s-D%d", name, p), "code": "E11.9", "patient_mrn": mrn, "diagnosed_date": "2024-03-01"})
		}
		time.Sleep(gap)
		start := time.Now()
		if _, err := s.Save(ctx, req); err != nil {
			t.Fatal(err)
		}
		totals = append(totals, time.Since(start))
	}
	sort.Slice(totals, func(i, j int) bool { return totals[i] < totals[j] })
	t.Logf("p50 %v p99 %v max %v", totals[n/2], totals[n*99/100], totals[n-1])
	start := time.Now()
	db.Close()
	t.Logf("close %v", time.Since(start))
}
