package main

// The DuckDB bindings link with -rdynamic, which puts all 60,000 of
// DuckDB's symbols in the binary's dynamic symbol table, for loadable
// extensions to bind to. healthsim loads none (the ones it uses are linked
// in, and the query sandbox forbids LOAD), yet the dynamic loader reads
// that table at every start: without it, the binary is 7 MB smaller and
// every healthsim process, a bridge above all, is 6.5 MB smaller in memory.

// #cgo LDFLAGS: -Wl,--no-export-dynamic
import "C"
