package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
	"github.com/healthsim/healthsim-go/mcp"
	"github.com/healthsim/healthsim-go/migrations"
)

const serveSynopsis = `serve [flags]

Serves the HealthSim MCP tools on the database: over stdin/stdout (the
default, for Claude Desktop and Claude Code), or over streamable HTTP at
/mcp with --http. Creates and migrates the database on first use. Logs go
to stderr.

Environment: HEALTHSIM_DB_PATH, MCP_TRANSPORT (stdio|http),
HEALTHSIM_HTTP_ADDR, HEALTHSIM_MCP_TOKEN (bearer token; required when
listening off loopback), HEALTHSIM_LOG_LEVEL (debug|info|warn|error),
HEALTHSIM_READ_ONLY (deprecated: turns the write tools off)`

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
}

func (c *ServeCommand) Run(ctx context.Context, args []string) error {
	fs := cli.NewFlagSet("serve", "healthsim "+serveSynopsis, c.stderr)
	c.db.Register(fs)
	fs.StringVar(&c.transport, "transport", os.Getenv("MCP_TRANSPORT"), "stdio or http (default $MCP_TRANSPORT, else stdio; --http implies http)")
	fs.StringVar(&c.httpAddr, "http", os.Getenv("HEALTHSIM_HTTP_ADDR"), "serve streamable HTTP on this address, e.g. 127.0.0.1:8765 or :8765 (loopback)")
	fs.DurationVar(&c.queryTimeout, "query-timeout", 5*time.Second, "stop a healthsim_query call after this long")
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
	readOnly, err := readOnlyEnv()
	if err != nil {
		return cli.UsageError(fs, "%v", err)
	}

	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))
	if readOnly {
		log.Warn("HEALTHSIM_READ_ONLY is deprecated: the write tools are turned off. HealthSim servers now share the database with other processes while writing, so unset it.")
	}
	path, err := c.db.Resolve()
	if err != nil {
		return err
	}
	db, err := dbx.Open(ctx, path, dbx.WithBusyTimeout(c.db.BusyTimeout), dbx.WithLogger(log))
	if err != nil {
		return err
	}
	defer func() {
		if err := db.Close(); err != nil {
			log.Error("close database", "err", err)
		}
		log.Info("stopped", "db", path)
	}()
	version, err := c.prepare(ctx, db, readOnly, log)
	if err != nil {
		return err
	}

	srv := mcp.NewServer(db, mcp.Options{Version: buildVersion(), ReadOnly: readOnly, QueryTimeout: c.queryTimeout, Logger: log})
	if transport == "stdio" {
		log.Info("serving MCP over stdio", "db", path, "schema_version", version, "read_only", readOnly)
		return srv.ServeStdio(ctx, c.stdin, c.stdout)
	}
	addr := c.httpAddr
	if addr == "" {
		addr = defaultHTTPAddr
	}
	if strings.HasPrefix(addr, ":") { // a bare port: loopback, not every interface
		addr = "127.0.0.1" + addr
	} else if _, err := strconv.Atoi(addr); err == nil {
		addr = "127.0.0.1:" + addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	log.Info("serving MCP over streamable HTTP", "url", "http://"+ln.Addr().String()+mcp.HTTPPath,
		"db", path, "schema_version", version, "read_only", readOnly, "token", os.Getenv("HEALTHSIM_MCP_TOKEN") != "")
	return srv.ServeHTTP(ctx, ln, os.Getenv("HEALTHSIM_MCP_TOKEN"))
}

// prepare creates and migrates the database when needed (in one write
// window), or, read-only, only checks it, and returns the schema version.
func (c *ServeCommand) prepare(ctx context.Context, db *dbx.DB, readOnly bool, log *slog.Logger) (int64, error) {
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

// readOnlyEnv reads the deprecated HEALTHSIM_READ_ONLY setting.
func readOnlyEnv() (bool, error) {
	v := os.Getenv("HEALTHSIM_READ_ONLY")
	if v == "" {
		return false, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("HEALTHSIM_READ_ONLY must be true or false, got %q", v)
	}
	return on, nil
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
