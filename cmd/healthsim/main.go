// Command healthsim serves and maintains a HealthSim DuckDB database that
// many processes share. Run "healthsim help" for the subcommands.
package main

import (
	"context"
	"io"
	"os"

	"github.com/healthsim/healthsim-go/internal/cli"
)

func main() {
	cli.Main("healthsim", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return Run(ctx, args, os.Stdin, stdout, stderr)
	})
}
