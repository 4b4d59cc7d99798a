package dbx

import "time"

// watchEvery is how often an attached read host looks for a writer of
// another dbx process and for the end of its read lease: the read lease,
// and the wait of another process's writer for this one's idle
// connections, end within it.
const watchEvery = 5 * time.Millisecond

// watch lets go of the file for a writer, or once the lease is over, until
// stop is closed (when the file is detached). It is the read host's only
// long-lived goroutine while attached.
func (h *host) watch(stop <-chan struct{}) {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if h.intent.writerActive() || h.leaseOver() {
				h.yield()
			}
		}
	}
}

// leaseOver reports whether the last query on a read host is a read lease
// old.
func (h *host) leaseOver() bool {
	return h.mode == ReadOnly && time.Since(time.Unix(0, h.lastUse.Load())) >= h.lease
}

// yield has the pool close its idle connections, and detaches the file if
// none is in use (IsValid refuses those in use when they come back, and
// the last one's release detaches).
func (h *host) yield() {
	if h.letGo != nil {
		h.letGo()
	}
	h.detachIdle()
}
