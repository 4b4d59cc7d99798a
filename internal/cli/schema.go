package cli

import (
	"context"
	"fmt"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/migrations"
)

// RequireSchema fails, with what to run, unless the database's schema is
// at least the newest migration this program knows. It reads through the
// read pool and changes nothing.
func RequireSchema(ctx context.Context, db *dbx.DB) error {
	v, err := migrations.Version(ctx, db)
	if err != nil {
		return err
	}
	if latest := migrations.Latest(); v < latest {
		return fmt.Errorf("the schema of %s is at version %d, this program needs %d: run `healthsim migrate up --db %s` first",
			db.Path(), v, latest, db.Path())
	}
	return nil
}

// Bytes formats a size in bytes for people: "512 B", "1.5 MiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
