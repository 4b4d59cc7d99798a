package cli_test

import (
	"testing"

	"github.com/healthsim/healthsim-go/internal/cli"
)

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"1GiB": 1 << 30, "512 MiB": 512 << 20, "1.5gb": 1_500_000_000, "2048": 2048, "10KB": 10_000, "3b": 3,
	} {
		if got, err := cli.ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "1 GiBs", "-1GiB", "1e3", "lots", "99999999TiB"} {
		if got, err := cli.ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) = %d, want an error", in, got)
		}
	}
}
