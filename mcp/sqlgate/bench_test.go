package sqlgate

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkCheck is the gate's cost for a query text it has not seen (a
// model's queries differ from call to call), and for one it has (the
// verdict cache).
func BenchmarkCheck(b *testing.B) {
	ctx := context.Background()
	b.Run("new-text", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if err := Check(ctx, fmt.Sprintf("SELECT a FROM big WHERE id = %d /* call %d */", i*7, i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("same-text", func(b *testing.B) {
		for b.Loop() {
			if _, err := decide(ctx, "SELECT a FROM big WHERE id = 7", 100); err != nil {
				b.Fatal(err)
			}
		}
	})
}
