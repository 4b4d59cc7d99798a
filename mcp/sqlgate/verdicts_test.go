package sqlgate

import (
	"fmt"
	"testing"
)

func TestVerdictCacheKeepsRecentAndEvictsOldest(t *testing.T) {
	c := newVerdictCache(2)
	put := func(sql string) { c.put(verdict{key: verdictKey{sql, 10}, query: "q:" + sql}) }
	put("a")
	put("b")
	if v, ok := c.get(verdictKey{"a", 10}); !ok || v.query != "q:a" { // a is now the most recent
		t.Fatalf("a: %v %v", v, ok)
	}
	put("c") // evicts b, the least recently used
	if _, ok := c.get(verdictKey{"b", 10}); ok {
		t.Fatal("b was not evicted")
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := c.get(verdictKey{k, 10}); !ok {
			t.Fatalf("%s was evicted", k)
		}
	}
	if _, ok := c.get(verdictKey{"a", 20}); ok {
		t.Fatal("another row limit is another verdict")
	}
	long := fmt.Sprintf("%*s", maxCachedSQL+1, "x")
	put(long)
	if _, ok := c.get(verdictKey{long, 10}); ok {
		t.Fatal("a long text was cached")
	}
}
