package scenario_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/healthsim/healthsim-go/mcp/input"
	"github.com/healthsim/healthsim-go/mcp/scenario"
)

// TestControlCharactersRefused: a name or tag with a control character
// (NUL, an escape, a newline, DEL, C1) or a bidirectional formatting
// character, which would be printed raw or reorder what a reader sees, is
// refused by Save and by ValidateRecord (import) with a sentence that
// names it escaped, and changes nothing.
func TestControlCharactersRefused(t *testing.T) {
	db, store := newStore(t)
	ctx := context.Background()
	before := rowCounts(t, db)
	patients := map[string][]map[string]any{"patients": samplePatients(1, "p")}
	for _, c := range []struct {
		name  string
		req   scenario.SaveRequest
		field string
		shown string // how the message shows the character
	}{
		{"NUL in name", scenario.SaveRequest{Name: "bad\x00name"}, "name", `U+0000`},
		{"escape in name", scenario.SaveRequest{Name: "red \x1b[31m"}, "name", `U+001B`},
		{"newline in name", scenario.SaveRequest{Name: "two\nlines"}, "name", `U+000A`},
		{"DEL in name", scenario.SaveRequest{Name: "x\x7f"}, "name", `U+007F`},
		{"C1 in name", scenario.SaveRequest{Name: "x\u0085y"}, "name", `U+0085`},
		{"right-to-left override in name", scenario.SaveRequest{Name: "abc\u202etxt.exe"}, "name", `U+202E`},
		{"bell in tag", scenario.SaveRequest{Name: "n", Tags: []string{"ok", "ding\a"}}, "tags", `U+0007`},
		{"NUL in tag", scenario.SaveRequest{Name: "n", Tags: []string{"\x00"}}, "tags", `U+0000`},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.req.Entities = patients
			_, err := store.Save(ctx, c.req)
			var ve *input.Error
			if !errors.As(err, &ve) || ve.Field != c.field || !strings.Contains(ve.Message, c.shown) || !strings.Contains(ve.Message, "control") {
				t.Fatalf("Save: %v; want a %s error showing %s", err, c.field, c.shown)
			}
			if strings.ContainsFunc(ve.Message, func(r rune) bool { return r < ' ' || r == 0x7f || r == 0x85 || r == 0x202e }) {
				t.Errorf("the message carries the character raw: %q", ve.Message)
			}
			rec := &scenario.Record{Name: c.req.Name, Tags: c.req.Tags}
			if err := scenario.ValidateRecord(rec); !errors.As(err, &ve) || ve.Field != c.field {
				t.Errorf("ValidateRecord: %v; want a %s error", err, c.field)
			}
			assertUnchanged(t, db, before)
		})
	}
	// Letters of any script, emoji, punctuation and spaces inside are fine.
	for _, name := range []string{"Ünïcödé — 糖尿病 cohort", "family 👨‍👩‍👧 (ZWJ)", "tabs\tare not names"} {
		_, err := store.Save(ctx, scenario.SaveRequest{Name: name, Tags: []string{"Déjà vu"}, Entities: patients})
		if strings.Contains(name, "\t") {
			if err == nil {
				t.Errorf("saved %q, which holds a tab", name)
			}
			continue
		}
		if err != nil {
			t.Errorf("Save(%q): %v", name, err)
		}
	}
}

// TestNameCase: a name is exact (after trimming spaces at its ends):
// "Diabetes" and "diabetes" are two scenarios, and a lookup must match
// the case; tags are folded to lower case, and search and name completion
// ignore case, returning the exact names. docs/server.md says so.
func TestNameCase(t *testing.T) {
	_, store := newStore(t)
	ctx := context.Background()
	patients := map[string][]map[string]any{"patients": samplePatients(1, "p")}
	for _, name := range []string{"Diabetes", " diabetes "} {
		if _, err := store.Save(ctx, scenario.SaveRequest{Name: name, Tags: []string{"Demo"}, Entities: patients}); err != nil {
			t.Fatalf("Save(%q): %v", name, err)
		}
	}
	if _, err := store.Load(ctx, "DIABETES", false); !errors.Is(err, scenario.ErrNotFound) {
		t.Errorf("Load(DIABETES): %v, want ErrNotFound", err)
	}
	for _, name := range []string{"Diabetes", "diabetes", "  Diabetes"} {
		if sc, err := store.Load(ctx, name, false); err != nil || sc.Name != strings.TrimSpace(name) {
			t.Errorf("Load(%q): %v", name, err)
		}
	}
	list, err := store.List(ctx, scenario.ListOptions{Tag: "DEMO", Search: "DIAB"})
	if err != nil || len(list) != 2 || list[0].Tags[0] != "demo" {
		t.Errorf("List(tag DEMO, search DIAB) = %+v, %v; want both, tagged demo", list, err)
	}
	names, err := store.CompleteNames(ctx, "dia", 10)
	if err != nil || len(names.Values) != 2 || names.Values[0] != "Diabetes" {
		t.Errorf("CompleteNames(dia) = %+v, %v; want both exact names", names, err)
	}
}
