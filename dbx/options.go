package dbx

import (
	"errors"
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
	logger      *slog.Logger
}

func defaultOptions() options {
	return options{
		busyTimeout: 5 * time.Second,
		readLease:   time.Second,
		readConns:   max(4, runtime.NumCPU()),
		logger:      slog.New(slog.DiscardHandler),
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

// WithBusyTimeout sets how long opening the file retries while another
// process holds a conflicting lock, and how long a write waits for this
// process's own read connections to close. Zero means one try. Default 5s.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return errors.New("dbx: busy timeout must not be negative")
		}
		o.busyTimeout = d
		return nil
	}
}

// WithReadLease sets how long an idle read pool keeps the file open (and so
// its shared lock held) after the last read. database/sql closes idle
// connections once a second at most, so the lock goes between d and d+1s
// after the last read. Default 1s.
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
