package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/healthsim/healthsim-go/cmd/healthsim/internal/share"
	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
	"github.com/healthsim/healthsim-go/mcp"
	"github.com/healthsim/healthsim-go/migrations"
)

const serveSynopsis = `serve [flags]

Serves the HealthSim MCP tools on the database: over stdin/stdout (the
default, for Claude Desktop and Claude Code), or over streamable HTTP at
/mcp with --http. Creates and migrates the database on first use. Logs go
to stderr. The stdio servers of one database file share one server: the
first owns the file, the others bridge to it (--no-share: serve alone).

Environment: HEALTHSIM_DB_PATH, MCP_TRANSPORT (stdio|http),
HEALTHSIM_HTTP_ADDR, HEALTHSIM_MCP_TOKEN (bearer token; required when
listening off loopback), HEALTHSIM_LOG_LEVEL (debug|info|warn|error),
HEALTHSIM_SHARE (false: --no-share), HEALTHSIM_READ_LEASE (--read-lease),
HEALTHSIM_MEMORY_LIMIT (--memory-limit), HEALTHSIM_STORAGE_VERSION
(--storage-version), HEALTHSIM_READ_ONLY (deprecated:
turns the write tools off, and serves alone)`

// defaultReadLease is how long serve keeps its shared lock after the last
// read: a model calls tools seconds apart, and each call after the lease
// pays for attaching the file again. Other readers are never kept out by
// it, and dbx processes that write take the file at once; only a plain
// DuckDB program that opens the file read-write waits for it.
const defaultReadLease = 10 * time.Second

// defaultMemoryLimit bounds the memory of each of the server's two DuckDB
// instances (dbx.WithMemoryLimit), so that a model's query cannot take a
// desktop's memory (DuckDB's own default is 80% of it): HealthSim's
// queries need far less, and sorts, joins and aggregates beyond it spill
// to disk. minMemoryLimit leaves saves room: 20,000 entities (6 MB) failed
// under 64 MiB and saved under 80 MiB, 200,000 (60 MB) under 96 MiB
// (TestSaveUnderMemoryLimit).
const (
	defaultMemoryLimit = "1GiB"
	minMemoryLimit     = 256 << 20
)

// defaultHTTPAddr is where --transport http listens without --http.
const defaultHTTPAddr = "127.0.0.1:8765"

// ServeCommand runs the MCP server until stdin ends (stdio) or a signal.
type ServeCommand struct {
	*env
	db           cli.DB
	transport    string
	httpAddr     string
	queryTimeout time.Duration
	logLevel     string
	share        bool
	readLease    time.Duration
	memory       string
	memoryLimit  int64
	storage      string // the storage version of a database serve creates (checked at start)
}

func (c *ServeCommand) Run(ctx context.Context, args []string) error {
	fs := cli.NewFlagSet("serve", "healthsim "+serveSynopsis, c.stderr)
	c.db.Register(fs)
	fs.StringVar(&c.transport, "transport", os.Getenv("MCP_TRANSPORT"), "stdio or http (default $MCP_TRANSPORT, else stdio; --http implies http)")
	fs.StringVar(&c.httpAddr, "http", os.Getenv("HEALTHSIM_HTTP_ADDR"), "serve streamable HTTP on this address, e.g. 127.0.0.1:8765 or :8765 (loopback)")
	fs.DurationVar(&c.queryTimeout, "query-timeout", 5*time.Second, "stop a healthsim_query call after this long")
	shareDefault, shareErr := boolEnv("HEALTHSIM_SHARE", true)
	fs.BoolVar(&c.share, "share", shareDefault, "stdio: share one server among the healthsim serve processes of the database file (default $HEALTHSIM_SHARE, else true)")
	fs.BoolFunc("no-share", "stdio: serve the database from this process alone (--share=false)", func(string) error {
		c.share = false
		return nil
	})
	leaseDefault, leaseErr := durationEnv("HEALTHSIM_READ_LEASE", defaultReadLease)
	fs.DurationVar(&c.readLease, "read-lease", leaseDefault, "keep the file open for reads this long after the last one; a plain DuckDB program that opens it read-write waits that long (default $HEALTHSIM_READ_LEASE, else 10s)")
	fs.StringVar(&c.memory, "memory-limit", envOr("HEALTHSIM_MEMORY_LIMIT", defaultMemoryLimit), "bound DuckDB's memory for queries (each of the read and write sides) to this; queries that need more spill to disk or are stopped (default $HEALTHSIM_MEMORY_LIMIT, else 1GiB; at least 256MiB)")
	fs.StringVar(&c.logLevel, "log-level", envOr("HEALTHSIM_LOG_LEVEL", "info"), "debug, info, warn or error")
	pos, err := parse(fs, args)
	if err != nil {
		return cli.HelpOK(err)
	}
	if len(pos) > 0 {
		return cli.UsageError(fs, "serve takes no arguments, got %q", pos)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return cli.UsageError(fs, "--log-level must be debug, info, warn or error, got %q", c.logLevel)
	}
	transport := strings.ToLower(c.transport)
	if c.httpAddr != "" && transport == "" {
		transport = "http"
	}
	switch transport {
	case "", "stdio":
		transport = "stdio"
	case "http", "streamable-http", "streamable_http":
		transport = "http"
	default:
		return cli.UsageError(fs, "--transport must be stdio or http, got %q", c.transport)
	}
	readOnly, err := boolEnv("HEALTHSIM_READ_ONLY", false)
	if err = errors.Join(err, shareErr, leaseErr); err != nil {
		return cli.UsageError(fs, "%v", err)
	}
	if c.readLease <= 0 {
		return cli.UsageError(fs, "--read-lease must be positive, got %v", c.readLease)
	}
	if c.memoryLimit, err = cli.ParseBytes(c.memory); err != nil || c.memoryLimit < minMemoryLimit {
		return cli.UsageError(fs, "--memory-limit (or HEALTHSIM_MEMORY_LIMIT) must be a size of at least 256MiB, such as 1GiB, got %q", c.memory)
	}

	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))
	if readOnly {
		log.Warn("HEALTHSIM_READ_ONLY is deprecated: the write tools are turned off. HealthSim servers now share the database with other processes while writing, so unset it.")
	}
	path, err := c.db.Resolve()
	if err == nil {
		c.storage, err = c.db.Storage()
	}
	if err == nil {
		err = cli.MakeFolder(path) // serve creates the database
	}
	if err != nil {
		return err
	}
	// A read-only server serves alone: it must not take writes through an
	// owner, nor refuse them to bridges.
	if transport == "stdio" && c.share && !readOnly && dbx.IsLocalFile(path) {
		return c.serveShared(ctx, path, log)
	}
	addr := listenAddr(c.httpAddr)
	if transport == "http" {
		if err := mcp.CheckHTTPToken(addr, os.Getenv("HEALTHSIM_MCP_TOKEN")); err != nil {
			return err // before the database is opened
		}
	}
	s, err := c.start(ctx, path, readOnly, log)
	if err != nil {
		return err
	}
	defer s.stop()
	if transport == "stdio" {
		return c.serveStdio(ctx, s, path, log)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	log.Info("serving MCP over streamable HTTP", "url", "http://"+ln.Addr().String()+mcp.HTTPPath,
		"db", path, "token", os.Getenv("HEALTHSIM_MCP_TOKEN") != "")
	return s.srv.ServeHTTP(ctx, ln, os.Getenv("HEALTHSIM_MCP_TOKEN"), nil)
}

// listenAddr is the address --http names: the default without one, and
// a bare port on loopback, not on every interface.
func listenAddr(flag string) string {
	if flag == "" {
		return defaultHTTPAddr
	}
	if strings.HasPrefix(flag, ":") {
		return "127.0.0.1" + flag
	} else if _, err := strconv.Atoi(flag); err == nil {
		return "127.0.0.1:" + flag
	}
	return flag
}

// serving is a database this process serves.
type serving struct {
	srv  *mcp.Server
	stop func() // stops serving the owner's endpoint, if any, then closes the database
}

// startProbe is how long serve tries to read the file as it starts before
// it serves without it.
const startProbe = 250 * time.Millisecond

// start opens (creating and migrating when needed) the database at path
// and the MCP server over it. If another process holds the file, it
// serves anyway: tool calls name that process until it lets go, and the
// first call after that migrates the database. A schema newer than this
// binary's is served too: tool calls say so (see schemaError).
func (c *ServeCommand) start(ctx context.Context, path string, readOnly bool, log *slog.Logger) (*serving, error) {
	// Tool calls read while saves run; the server's windows read no
	// other file, so the write side can be locked down.
	opts, err := c.db.Options(log)
	if err != nil {
		return nil, err
	}
	db, err := dbx.Open(ctx, path, append(opts,
		dbx.WithReadLease(c.readLease), dbx.WithReadsDuringWrites(), dbx.WithMemoryLimit(c.memoryLimit))...)
	if err != nil {
		return nil, err
	}
	ready := c.whenPrepared(db, readOnly, log)
	// A file another program holds read-write: serve at once instead of
	// after the busy timeout.
	probeCtx, cancel := context.WithTimeout(ctx, startProbe)
	err = db.Read().PingContext(probeCtx)
	cancel()
	if !errors.Is(err, dbx.ErrLocked) {
		err = ready(ctx)
	}
	var schemaErr *schemaError
	if errors.Is(err, dbx.ErrLocked) {
		log.Warn("another process holds the database: serving anyway; tool calls say which process until it lets go", "err", err)
	} else if errors.As(err, &schemaErr) {
		log.Warn("serving anyway; every tool call says so until the schema is right", "err", err)
	} else if err != nil {
		db.Close()
		return nil, err
	}
	writable := func() error { return writeProblem(path) }
	if err := writable(); err != nil && !readOnly {
		log.Warn("the database cannot be written: saves and deletes will fail", "db", path, "err", err)
	}
	srv := mcp.NewServer(db, mcp.Options{Version: buildVersion(), ReadOnly: readOnly, QueryTimeout: c.queryTimeout, Logger: log, Ready: ready,
		Writable: writable})
	return &serving{srv: srv, stop: func() {
		if err := db.Close(); err != nil {
			log.Error("close database", "err", err)
		}
		log.Info("stopped", "db", path)
	}}, nil
}

func (c *ServeCommand) serveStdio(ctx context.Context, s *serving, path string, log *slog.Logger) error {
	log.Info("serving MCP over stdio", "db", path)
	return s.srv.ServeLines(ctx, c.stdin, c.stdout)
}

// own starts serving the database as its owner: the MCP server, and its
// private endpoint for the other servers of the file, recorded by o.
func (c *ServeCommand) own(ctx context.Context, o *share.Owner, path string, log *slog.Logger) (*serving, share.Record, error) {
	s, err := c.start(ctx, path, false, log)
	if err != nil {
		return nil, share.Record{}, err
	}
	ln, rec, err := o.Listen()
	if err == nil {
		err = o.Publish(rec)
	}
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		s.stop()
		return nil, share.Record{}, err
	}
	bridgesCtx, stopBridges := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := o.Serve(bridgesCtx, ln, rec.Token, s.srv.ServeLines); err != nil {
			log.Error("share: the endpoint for other servers stopped", "err", err)
		}
	}()
	log.Info("share: owning the database; other servers of it bridge to this one", "db", path, "endpoint", rec.Address)
	closeDB := s.stop
	s.stop = func() {
		stopBridges() // their calls in flight get 5 s to finish
		<-served
		o.Release()
		closeDB()
	}
	return s, rec, nil
}

// serveShared serves the stdio client on the file's shared server: as its
// owner if no other process owns it, else as a bridge to the owner, which
// takes ownership if the owner goes away. A shared server is never
// read-only (HEALTHSIM_READ_ONLY serves alone: see Run).
func (c *ServeCommand) serveShared(ctx context.Context, path string, log *slog.Logger) error {
	for {
		o, err := share.Claim(path)
		if err != nil && !errors.Is(err, share.ErrOwned) {
			log.Warn("share: cannot claim the database; serving it alone", "err", err)
			s, err := c.start(ctx, path, false, log)
			if err != nil {
				return err
			}
			defer s.stop()
			return c.serveStdio(ctx, s, path, log)
		}
		if err == nil {
			s, _, err := c.own(ctx, o, path, log)
			if err != nil {
				o.Release()
				return err
			}
			defer s.stop()
			return c.serveStdio(ctx, s, path, log)
		}
		findCtx, cancel := context.WithTimeout(ctx, c.db.BusyTimeout+10*time.Second)
		rec, err := share.Find(findCtx, path, 0)
		cancel()
		if errors.Is(err, share.ErrUnowned) {
			continue // the owner stopped meanwhile: claim it
		}
		if err != nil {
			return err
		}
		return c.bridge(ctx, rec, path, log)
	}
}

// bridgeGCPercent is a bridge's GOGC: its live heap is well under 1 MB,
// so collecting at 10% over it costs little and keeps it from growing to
// the runtime's 4 MB minimum.
const bridgeGCPercent = 10

// bridge forwards the stdio client's messages to the owner at rec, and
// serves the database here if this process takes ownership.
func (c *ServeCommand) bridge(ctx context.Context, rec share.Record, path string, log *slog.Logger) error {
	// A bridge holds next to nothing between messages: it collects at a
	// small heap and gives back what starting used, so that it stays small
	// beside its owner. Taking over, it collects as a server does again.
	gcPercent := debug.SetGCPercent(bridgeGCPercent)
	debug.FreeOSMemory()
	var took *serving
	b := &share.Bridge{DBPath: path, Log: log, WriteTools: mcp.WriteTools,
		TakeOver: func(ctx context.Context, o *share.Owner) (share.Record, error) {
			debug.SetGCPercent(gcPercent)
			s, rec, err := c.own(ctx, o, path, log)
			took = s
			return rec, err
		}}
	log.Info("share: bridging to the server that owns the database", "db", path, "owner_pid", rec.PID)
	err := b.Run(ctx, rec, c.stdin, c.stdout)
	if took != nil {
		took.stop()
	}
	return err
}

// whenPrepared returns a function that prepares the database (see
// prepare) until that has succeeded once, and from then on checks that the
// schema is still the one this server needs (see schemaWatch): a
// *schemaError says which version it found and what to run. Calls wait
// for one attempt (to prepare, or to check) at a time, each as long as its
// context lets it; a call that waited through another's failed attempt
// gets that attempt's error instead of trying again, so that N calls while
// the file is held wait one busy timeout, not N.
func (c *ServeCommand) whenPrepared(db *dbx.DB, readOnly bool, log *slog.Logger) func(context.Context) error {
	turn := make(chan struct{}, 1)
	var ( // guarded by turn
		done      bool
		lastErr   error     // the last attempt's error
		lastEnded time.Time // when it ended
		schema    = schemaWatch{db: db, need: migrations.Latest()}
	)
	return func(ctx context.Context) error {
		asked := time.Now()
		select {
		case turn <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { <-turn }()
		if lastErr != nil && lastEnded.After(asked) {
			return lastErr
		}
		err := func() error {
			if done {
				return schema.check(ctx)
			}
			version, err := c.prepare(ctx, db, readOnly, log)
			if err != nil {
				return err
			}
			done = true
			log.Info("opened the database", "db", db.Path(), "schema_version", version, "read_only", readOnly)
			switch format, err := storageFormat(ctx, db); {
			case err != nil || format == "":
			case dbx.StorageVersionLess(format, NewFormat):
				log.Warn("the database is in an old storage format, whose checkpoints (every 16th save) read every table while they hold the file read-write: about 0.5 s on a 1.1 GB file, against 20 ms for a save; `healthsim storage upgrade --storage-version "+NewFormat+"` rewrites it (DuckDB 1.4 and later read the result)",
					"db", db.Path(), "format", format)
			case dbx.StorageVersionLess(lastDuckDB1Format, format) && !dbx.StorageVersionLess(lastDuckDB1Format, dbx.StorageVersionOf(c.storage)):
				// Named unless this server was told to create files that
				// DuckDB 1.x cannot open either.
				log.Info("the database is in a storage format that DuckDB 1.x tools (CLIs, Python, notebooks) cannot open; `healthsim storage downgrade --storage-version "+dbx.DefaultStorageVersion+"` rewrites it for them",
					"db", db.Path(), "format", format)
			}
			return schema.check(ctx)
		}()
		lastErr, lastEnded = err, time.Now()
		if ctx.Err() != nil {
			lastErr = nil // this call's own cancellation is not the others' answer
		}
		return err
	}
}

// prepare creates and migrates the database when needed (in one write
// window), or, read-only, only checks it, and returns the schema version.
// A schema newer than this binary's is a *schemaError.
func (c *ServeCommand) prepare(ctx context.Context, db *dbx.DB, readOnly bool, log *slog.Logger) (int64, error) {
	if v, err := migrations.Version(ctx, db); err != nil {
		return 0, err
	} else if v > migrations.Latest() {
		return 0, &schemaError{path: db.Path(), found: v, need: migrations.Latest()}
	}
	if readOnly {
		if pending, err := migrations.HasPending(ctx, db); err != nil {
			return 0, err
		} else if pending {
			log.Warn("the database schema is not up to date and HEALTHSIM_READ_ONLY forbids migrating it; run `healthsim migrate up`")
		}
		return migrations.Version(ctx, db)
	}
	results, err := migrations.Up(ctx, db)
	if err != nil {
		return 0, fmt.Errorf("migrate %s: %w", db.Path(), err)
	}
	version, err := migrations.Version(ctx, db)
	if err != nil {
		return 0, err
	}
	if len(results) > 0 {
		log.Info("migrated the database", "db", db.Path(), "applied", len(results), "schema_version", version)
	}
	return version, nil
}

// boolEnv reads a true/false setting from the environment: fallback when
// unset, an error naming it when unreadable.
func boolEnv(key string, fallback bool) (bool, error) {
	v := os.Getenv(key)
	if v == "" {
		return fallback, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return fallback, fmt.Errorf("%s must be true or false, got %q", key, v)
	}
	return on, nil
}

// durationEnv reads a duration from the environment, as boolEnv does.
func durationEnv(key string, fallback time.Duration) (time.Duration, error) {
	v := os.Getenv(key)
	if v == "" {
		return fallback, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fallback, fmt.Errorf("%s must be a duration such as 10s, got %q", key, v)
	}
	return d, nil
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

// version is set by release builds:
// go build -ldflags "-X main.version=v1.2.3" ./cmd/healthsim
var version string

// buildVersion is the version release builds stamp, else the module
// version the binary was built from, else "dev" with the commit when the
// build recorded one.
func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 7 {
			return "dev+" + s.Value[:7]
		}
	}
	return "dev"
}
