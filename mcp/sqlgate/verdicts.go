package sqlgate

import (
	"container/list"
	"sync"
)

// verdictCache remembers what the gate decided for recent query texts:
// Check is a pure function of the text (it parses, never looks at the
// data), so a model or a dashboard repeating a query skips the parse, about
// a quarter of a millisecond. Only short texts are kept, so the cache stays
// small (at most size × maxCachedSQL bytes of keys).
type verdictCache struct {
	mu    sync.Mutex
	size  int
	order *list.List // front: most recently used
	items map[verdictKey]*list.Element
}

type verdictKey struct {
	sql     string
	maxRows int // the LIMIT of the wrapper is part of what was checked
}

// verdict is what Run runs for a text, or why it refused it.
type verdict struct {
	key     verdictKey
	query   string
	refusal error // a *RefusedError, or nil
}

// maxCachedSQL is the longest query text the cache keeps.
const maxCachedSQL = 4 << 10

var verdicts = newVerdictCache(512)

func newVerdictCache(size int) *verdictCache {
	return &verdictCache{size: size, order: list.New(), items: map[verdictKey]*list.Element{}}
}

func (c *verdictCache) get(k verdictKey) (verdict, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		return verdict{}, false
	}
	c.order.MoveToFront(e)
	return e.Value.(verdict), true
}

func (c *verdictCache) put(v verdict) {
	if len(v.key.sql) > maxCachedSQL {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[v.key]; ok {
		e.Value = v
		c.order.MoveToFront(e)
		return
	}
	c.items[v.key] = c.order.PushFront(v)
	if c.order.Len() > c.size {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(verdict).key)
	}
}
