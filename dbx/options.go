package dbx

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"
)

// Option configures [Open] and [OpenReadOnly].
type Option func(*options) error

type options struct {
	busyTimeout time.Duration
	readLease   time.Duration
	readConns   int
	writeLinger time.Duration
	// readsDuringWrites: reads run on the write side while it holds the file.
	readsDuringWrites bool
	checkpoint        checkpointPolicy
	memoryLimit       int64 // bytes per DuckDB instance; 0: DuckDB's default
	storageVersion    string
	logger            *slog.Logger
}

func defaultOptions() options {
	return options{
		busyTimeout:    5 * time.Second,
		readLease:      time.Second,
		readConns:      max(4, runtime.NumCPU()),
		checkpoint:     checkpointPolicy{every: 16, walBytes: 4 << 20},
		storageVersion: DefaultStorageVersion,
		logger:         slog.New(slog.DiscardHandler),
	}
}

func (o *options) apply(opts []Option) error {
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return err
		}
	}
	return nil
}

// WithBusyTimeout sets how long each wait for the file lasts: opening it
// retries while another process holds a conflicting lock ([*LockError]), a
// read or a write waits for this process's write windows ([ErrBusy]), a
// write for this process's read connections to close ([ErrReadsInUse]).
// A call may meet more than one of these waits. Zero means one try: a
// read or write of this process then fails within a millisecond while a
// window runs. Default 5s.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return errors.New("dbx: busy timeout must not be negative")
		}
		o.busyTimeout = d
		return nil
	}
}

// WithReadLease sets how long an idle read side keeps the file open (and
// so its shared lock held) after the last read: the lock goes within a few
// milliseconds of d after the last statement, also when a write window of
// this process came in between (the read side attaches the file again
// after it). Other readers are not kept out, and a writer of this or
// another dbx process does not wait for it; a program that opens the file
// read-write without dbx does. Default 1s.
func WithReadLease(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return errors.New("dbx: read lease must be positive")
		}
		o.readLease = d
		return nil
	}
}

// WithReadConns sets the maximum number of open read connections.
// Default: the number of CPUs, at least 4.
func WithReadConns(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return errors.New("dbx: read connections must be at least 1")
		}
		o.readConns = n
		return nil
	}
}

// WithCheckpointEvery sets when the write side folds the write-ahead log
// into the database file: always after a window that ran anything but row
// changes; otherwise once the WAL reaches walBytes, when the write side
// lets go with n windows pending, and at [DB.Close]. Until then each
// commit stays in PATH.wal, durable, and the next open replays it. A
// checkpoint holds the file read-write, so none is done merely because
// the process is idle. n = 1 checkpoints whenever the write side lets go.
// Default: 16 windows or 4 MiB. Copy the .wal with the file, or run
// scripts/checkpoint first.
func WithCheckpointEvery(n int, walBytes int64) Option {
	return func(o *options) error {
		if n < 1 || walBytes < 1 {
			return errors.New("dbx: checkpoint interval and WAL size must be at least 1")
		}
		o.checkpoint = checkpointPolicy{every: n, walBytes: walBytes}
		return nil
	}
}

// WithWriteLinger sets how long the write side keeps the file open after a
// write window, so that a burst of windows from one caller opens it once
// (a batch import, say). It lets go as soon as a reader of this process,
// or a reader or writer of another dbx process, waits for the file; but a
// plain DuckDB process (a notebook, a test suite) cannot say that it
// waits, and cannot even open the file read-only meanwhile. Zero, the
// default, lets go before Write returns, unless a window of this process
// is already queued behind it, which then reuses the open file (with
// [WithReadsDuringWrites], once no read runs on the write side).
func WithWriteLinger(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return errors.New("dbx: write linger must not be negative")
		}
		o.writeLinger = d
		return nil
	}
}

// WithReadsDuringWrites lets reads run while this process's write side
// holds the file for a [DB.Write] window (or a read-write transaction of
// the dbx driver) or lingers after one, instead of waiting for it to let
// go (during [DB.WritePool] and [DB.ReplaceFile] they still wait, the
// busy timeout at most): they run on the write side's DuckDB instance,
// each statement (or each transaction from Read) in a read-only
// transaction, and see every committed window at once (DuckDB's MVCC). Such a read takes one SELECT
// or EXPLAIN statement at a time; anything else is refused
// ([ErrRefused]). The write side then keeps the file for the write linger
// after its last statement, window or read, and on while reads run on
// it; when another dbx process waits for the file, it lets go once they
// end (waiting for them up to the busy timeout, then lingering on).
//
// So that reads keep the guarantees of the read side, the write side is
// locked down like it: it reaches no file but the database's own (and
// [DB.ReplaceFile]'s), loads no extension and cannot change its
// configuration. Write windows that read other files (read_csv, say) must
// not use this option.
func WithReadsDuringWrites() Option {
	return func(o *options) error {
		o.readsDuringWrites = true
		return nil
	}
}

// MinMemoryLimit is the smallest limit [WithMemoryLimit] takes, to catch
// a limit given in the wrong unit (1024 meant as MiB): DuckDB runs small
// statements in 1 MiB, but no real work.
const MinMemoryLimit = 16 << 20

// WithMemoryLimit bounds the memory of each of the DB's two DuckDB
// instances, the read side's and the write side's, to n bytes (DuckDB's
// memory_limit, set before the configuration is locked). Past it DuckDB
// moves what it can (sorts, joins, aggregates, windows) into the DB's
// temporary directories, and a statement that still needs more fails
// with an "Out of Memory Error" that leaves the instance usable. So a
// process uses at most about 2n for DuckDB's buffers (the write side
// holds the file only during windows, and with [WithReadsDuringWrites]
// takes reads then), plus what DuckDB allocates outside its buffer
// manager. Write windows are held to it too, and fail past it (a
// HealthSim save of 20,000 entities failed under 64 MiB and passed under
// 80 MiB, one of 200,000 under 96 MiB). Local files only. Default: DuckDB's own, 80% of the machine's memory.
//
// Whatever the limit, each instance spills into a directory of its own
// beside the file, PATH.RANDOM.tmp (on the disk the data is on, not in a
// /tmp that may be kept in memory), which DuckDB creates when it first
// spills and dbx removes when the instance closes. DuckDB reaches it with
// external access off. A process that was killed may leave one behind;
// delete it.
func WithMemoryLimit(n int64) Option {
	return func(o *options) error {
		if n < MinMemoryLimit {
			return fmt.Errorf("dbx: memory limit must be at least %d MiB, got %d bytes", MinMemoryLimit>>20, n)
		}
		o.memoryLimit = n
		return nil
	}
}

// WithLogger sets where dbx logs lock waits and file opens. Default: nowhere.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("dbx: logger must not be nil")
		}
		o.logger = l
		return nil
	}
}
