package sqlgate

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// JSON forms of DuckDB values, chosen so that no value loses information
// silently in a JSON parser that reads numbers as float64:
//
//	integers beyond ±2^53 (BIGINT, UBIGINT, HUGEINT, …)  string of the digits
//	DECIMAL(w,s)     w ≤ 15: JSON number with DuckDB's exact text; wider: string
//	DOUBLE, FLOAT    number; NaN, Infinity and -Infinity as those strings
//	UUID             "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
//	BLOB             base64 string (standard alphabet, padded)
//	BIT              string of 0s and 1s
//	INTERVAL         {"months": m, "days": d, "micros": µs}
//	DATE             "2006-01-02"
//	TIME / TIMETZ    "15:04:05.999999" / "15:04:05.999999-07:00"
//	TIMESTAMP[TZ]    RFC 3339 in UTC with fractional seconds
//	LIST, ARRAY      array; STRUCT: object
//	MAP              object whose keys are the JSON-safe keys as strings
//	UNION            {"tag": name, "value": v}
//	JSON             the decoded value

// dbType is a parsed DuckDB type name as duckdb-go reports it
// (ColumnTypeDatabaseTypeName): enough structure to find UUIDs in nested
// values, which duckdb-go returns as bare []byte like BLOBs.
type dbType struct {
	name   string             // base name: UUID, LIST, STRUCT, MAP, DECIMAL, …
	elem   *dbType            // LIST and ARRAY element
	fields map[string]*dbType // STRUCT fields and UNION members
	key    *dbType            // MAP
	value  *dbType            // MAP
	width  int                // DECIMAL
}

// parseType parses s; unknown or malformed parts give nil, and values are
// then converted by their Go type alone.
func parseType(s string) *dbType {
	p := typeParser{s: s}
	return p.parse()
}

type typeParser struct {
	s string
	i int
}

func (p *typeParser) parse() *dbType {
	start := p.i
	for p.i < len(p.s) && (isWordByte(p.s[p.i])) {
		p.i++
	}
	t := &dbType{name: p.s[start:p.i]}
	if p.i < len(p.s) && p.s[p.i] == '(' {
		p.i++
		switch t.name {
		case "STRUCT", "UNION":
			t.fields = map[string]*dbType{}
			for p.i < len(p.s) && p.s[p.i] != ')' {
				name := p.fieldName()
				p.skip(" ")
				t.fields[name] = p.parse()
				p.skip(", ")
			}
		case "MAP":
			t.key = p.parse()
			p.skip(", ")
			t.value = p.parse()
		case "DECIMAL":
			end := strings.IndexByte(p.s[p.i:], ',')
			if end > 0 {
				t.width, _ = strconv.Atoi(p.s[p.i : p.i+end])
			}
			for p.i < len(p.s) && p.s[p.i] != ')' {
				p.i++
			}
		}
		p.skip(")")
	}
	for p.i < len(p.s) && p.s[p.i] == '[' {
		end := strings.IndexByte(p.s[p.i:], ']')
		if end < 0 {
			return nil
		}
		name := "LIST"
		if end > 1 {
			name = "ARRAY"
		}
		p.i += end + 1
		t = &dbType{name: name, elem: t}
	}
	return t
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// fieldName reads a field name quoted by duckdb-go ("a""b").
func (p *typeParser) fieldName() string {
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		start := p.i
		for p.i < len(p.s) && p.s[p.i] != ' ' {
			p.i++
		}
		return p.s[start:p.i]
	}
	var b strings.Builder
	for p.i++; p.i < len(p.s); p.i++ {
		if p.s[p.i] == '"' {
			if p.i+1 < len(p.s) && p.s[p.i+1] == '"' {
				b.WriteByte('"')
				p.i++
				continue
			}
			p.i++
			break
		}
		b.WriteByte(p.s[p.i])
	}
	return b.String()
}

func (p *typeParser) skip(tok string) {
	if strings.HasPrefix(p.s[p.i:], tok) {
		p.i += len(tok)
	}
}

func (t *dbType) is(name string) bool { return t != nil && t.name == name }

func (t *dbType) field(name string) *dbType {
	if t == nil {
		return nil
	}
	return t.fields[name]
}

func (t *dbType) child() *dbType {
	if t == nil {
		return nil
	}
	return t.elem
}

const maxExact = 1 << 53 // largest integer every JSON parser keeps exactly

// convert returns v, as scanned by duckdb-go for a column of type t, in its
// JSON-safe form (see the table above).
func convert(v any, t *dbType) any {
	switch v := v.(type) {
	case nil, bool, string:
		return v
	case int8, int16, int32, uint8, uint16, uint32:
		return v
	case int:
		return exactInt(big.NewInt(int64(v)))
	case int64:
		return exactInt(big.NewInt(v))
	case uint64:
		return exactInt(new(big.Int).SetUint64(v))
	case *big.Int:
		return exactInt(v)
	case float32:
		return float(float64(v))
	case float64:
		return float(v)
	case duckdb.Decimal:
		if v.Value == nil {
			return nil
		}
		if v.Width <= 15 {
			return json.Number(v.String())
		}
		return v.String()
	case []byte:
		if t.is("UUID") && len(v) == 16 {
			u := duckdb.UUID(v)
			return u.String()
		}
		return base64.StdEncoding.EncodeToString(v)
	case duckdb.UUID:
		return v.String()
	case *duckdb.UUID:
		return v.String()
	case duckdb.Bit:
		return v.String()
	case duckdb.Interval:
		return map[string]any{"months": v.Months, "days": v.Days, "micros": v.Micros}
	case time.Time:
		return formatTime(v, t)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = convert(x, t.child())
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = convert(x, t.field(k))
		}
		return out
	case duckdb.OrderedMap:
		out := make(map[string]any, v.Len())
		keys, vals := v.Keys(), v.Values()
		for i := range keys {
			out[mapKey(convert(keys[i], keyType(t)))] = convert(vals[i], valueType(t))
		}
		return out
	case duckdb.Map:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[mapKey(convert(k, keyType(t)))] = convert(x, valueType(t))
		}
		return out
	case duckdb.Union:
		return map[string]any{"tag": v.Tag, "value": convert(v.Value, t.field(v.Tag))}
	}
	// Anything else (a type added to DuckDB later): its text, never a
	// value json.Marshal might choke on.
	return fmt.Sprint(v)
}

func keyType(t *dbType) *dbType {
	if t == nil {
		return nil
	}
	return t.key
}

func valueType(t *dbType) *dbType {
	if t == nil {
		return nil
	}
	return t.value
}

// mapKey renders a converted MAP key as an object key.
func mapKey(k any) string {
	if s, ok := k.(string); ok {
		return s
	}
	b, err := json.Marshal(k)
	if err != nil {
		return fmt.Sprint(k)
	}
	return string(b)
}

func exactInt(n *big.Int) any {
	if n.IsInt64() && n.Int64() <= maxExact && n.Int64() >= -maxExact {
		return n.Int64()
	}
	return n.String()
}

func float(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}

func formatTime(v time.Time, t *dbType) string {
	switch {
	case t.is("DATE"):
		return v.Format(time.DateOnly)
	case t.is("TIME"):
		return v.Format("15:04:05.999999")
	case t.is("TIMETZ"):
		return v.Format("15:04:05.999999Z07:00")
	}
	return v.UTC().Format(time.RFC3339Nano)
}
