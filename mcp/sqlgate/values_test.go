package sqlgate_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/healthsim/healthsim-go/mcp/sqlgate"
)

func TestValueConversion(t *testing.T) {
	db := openDB(t)
	const u = "'6ba7b810-9dad-11d1-80b4-00c04fd430c8'::UUID"
	cols := []struct{ expr, want string }{
		{"1.5::DECIMAL(4,1)", `1.5`},
		{"-0.05::DECIMAL(4,2)", `-0.05`},
		{"12345678901234567890.123::DECIMAL(38,3)", `"12345678901234567890.123"`},
		{"sum(score) FILTER (WHERE id < 3)", `"3.75"`},
		{u, `"6ba7b810-9dad-11d1-80b4-00c04fd430c8"`},
		{"170141183460469231731687303715884105727::HUGEINT", `"170141183460469231731687303715884105727"`},
		{"-42::HUGEINT", `-42`},
		{"9007199254740992::BIGINT", `9007199254740992`},
		{"9007199254740993::BIGINT", `"9007199254740993"`},
		{"18446744073709551615::UBIGINT", `"18446744073709551615"`},
		{"7::TINYINT", `7`},
		{"INTERVAL '1 year 2 months 3 days 4.5 seconds'", `{"days":3,"micros":4500000,"months":14}`},
		{`'\xAA\xBB'::BLOB`, `"qrs="`},
		{"[1, 2, NULL]", `[1,2,null]`},
		{"[1, 2]::INTEGER[2]", `[1,2]`},
		{"{'a': 1, 'b': [" + u + "]}", `{"a":1,"b":["6ba7b810-9dad-11d1-80b4-00c04fd430c8"]}`},
		{"[[{'x y': " + u + ", 'd': 1.25::DECIMAL(5,2)}]]", `[[{"d":1.25,"x y":"6ba7b810-9dad-11d1-80b4-00c04fd430c8"}]]`},
		{"MAP {'k': 1, 'j': 2}", `{"j":2,"k":1}`},
		{"MAP {1: [1.5::DECIMAL(3,1)]}", `{"1":[1.5]}`},
		{"MAP {'a': {'u': " + u + "}}", `{"a":{"u":"6ba7b810-9dad-11d1-80b4-00c04fd430c8"}}`},
		{"TIMESTAMP '2024-01-02 03:04:05.123456'", `"2024-01-02T03:04:05.123456Z"`},
		{"TIMESTAMP_NS '2024-01-02 03:04:05.123456789'", `"2024-01-02T03:04:05.123456789Z"`},
		{"TIMESTAMPTZ '2024-01-02 03:04:05+02'", `"2024-01-02T01:04:05Z"`},
		{"DATE '2024-01-02'", `"2024-01-02"`},
		{"TIME '03:04:05.5'", `"03:04:05.5"`},
		{"TIMETZ '03:04:05+02'", `"03:04:05+02:00"`},
		{"'NaN'::DOUBLE", `"NaN"`},
		{"'inf'::DOUBLE", `"Infinity"`},
		{"'-inf'::FLOAT", `"-Infinity"`},
		{"[1.5::DOUBLE, 'nan'::DOUBLE]", `[1.5,"NaN"]`},
		{"'0101'::BIT", `"0101"`},
		{"union_value(num := 2)::UNION(num INTEGER, str VARCHAR)", `{"tag":"num","value":2}`},
		{`'{"a":[1,2]}'::JSON`, `{"a":[1,2]}`},
		{"NULL", `null`},
		{"true", `true`},
		{"'ünï \"q\"'", `"ünï \"q\""`},
	}
	sql := "SELECT "
	for i, c := range cols {
		if i > 0 {
			sql += ", "
		}
		sql += c.expr
	}
	sql += " FROM t"
	res, err := sqlgate.Run(context.Background(), db.Read(), sql, sqlgate.Options{MaxRows: 1})
	if err != nil {
		t.Fatal(err)
	}
	whole, err := json.Marshal(res)
	if err != nil {
		t.Fatalf("marshal result: %v", err)
	}
	t.Logf("%s", whole)
	for i, c := range cols {
		got, err := json.Marshal(res.Rows[0][i])
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("%s (%s): got %s, want %s", c.expr, res.Columns[i].Type, got, c.want)
		}
	}
}
