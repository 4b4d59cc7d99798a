package share

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestClaim(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.duckdb")
	if _, owned := Owned(db); owned {
		t.Fatal("owned before any claim")
	}
	o, err := Claim(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Claim(db); !errors.Is(err, ErrOwned) {
		t.Fatalf("second claim: %v, want ErrOwned", err)
	}
	if rec, owned := Owned(db); !owned || rec.PID != 0 {
		t.Fatalf("before publishing: %+v, %v", rec, owned)
	}
	ln, rec, err := o.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := o.Publish(rec); err != nil {
		t.Fatal(err)
	}
	if got, err := Find(context.Background(), db, 0); err != nil || got != rec || len(rec.Token) != 64 {
		t.Fatalf("Find = %+v, %v; published %+v", got, err, rec)
	}
	o.Release()
	if _, err := Find(context.Background(), db, 0); !errors.Is(err, ErrUnowned) {
		t.Fatalf("Find after Release: %v, want ErrUnowned", err)
	}
	o2, err := Claim(db)
	if err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	o2.Release()
}

func TestInterrupted(t *testing.T) {
	writes := []string{"healthsim_save_scenario"}
	text := func(method, params string) string {
		var res struct {
			ID     json.RawMessage `json:"id"`
			Result struct {
				IsError bool `json:"isError"`
				Content []struct {
					Text string `json:"text"`
				} `json:"content"`
			} `json:"result"`
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		msg := parseMessage([]byte(`{"jsonrpc":"2.0","id":7,"method":"` + method + `","params":` + params + `}`))
		if err := json.Unmarshal(interrupted(msg, writes), &res); err != nil {
			t.Fatal(err)
		}
		if string(res.ID) != "7" {
			t.Fatalf("%s %s: answered id %s, want 7", method, params, res.ID)
		}
		if res.Error.Message != "" {
			return "error: " + res.Error.Message
		}
		if !res.Result.IsError || len(res.Result.Content) != 1 {
			t.Fatalf("%s: %+v", params, res)
		}
		return res.Result.Content[0].Text
	}
	if got := text("tools/call", `{"name":"healthsim_save_scenario"}`); !strings.Contains(got, "may or may not have been written") || !strings.Contains(got, "healthsim_list_scenarios") {
		t.Errorf("save: %s", got)
	}
	if got := text("tools/call", `{"name":"healthsim_query"}`); !strings.Contains(got, "Nothing was changed; call the tool again") {
		t.Errorf("query: %s", got)
	}
	if got := text("resources/read", `{}`); !strings.HasPrefix(got, "error: ") || !strings.Contains(got, "send the request again") {
		t.Errorf("resources/read: %s", got)
	}
}
