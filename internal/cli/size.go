package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeUnits are the units ParseBytes takes, by their lower-case names.
var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseBytes reads a size such as "1GiB", "512 MiB", "1.5GB" or "1048576"
// (bytes): a non-negative number and an optional unit, B, KB, MB, GB, TB
// (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), in any case.
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	n, err := strconv.ParseFloat(t[:i], 64)
	unit, known := sizeUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if err != nil || !known || n*unit > math.MaxInt64 {
		return 0, fmt.Errorf("%q is not a size such as 1GiB, 512MiB or 2GB", s)
	}
	return int64(n * unit), nil
}
