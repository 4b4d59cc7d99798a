// Command healthsim serves and maintains a HealthSim DuckDB database that
// many processes share. Run "healthsim help" for the subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		os.Exit(2) // the usage message is already printed
	default:
		fmt.Fprintln(os.Stderr, "healthsim:", err)
		os.Exit(1)
	}
}
