package proctest

import (
	"encoding/binary"
	"fmt"
	"os"
)

// MakeFutureFile writes at path a database file as a DuckDB newer than
// this build's would: storage version 70, which no released DuckDB reads.
// It makes an empty file with this DuckDB in storage version v2.0.0 (69),
// then sets the storage version field of both database headers and
// updates their checksums, so that DuckDB refuses the file for its
// version alone. path must not be open.
func MakeFutureFile(path string) error {
	db, err := OpenRaw(path+"?storage_compatibility_version=v2.0.0", false)
	if err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	file, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	// DuckDB's file: a 4 KiB main header, then two 4 KiB database headers.
	// Each header block starts with the checksum of the rest: 5381 XORed
	// with every 8-byte word times a constant. The storage version number
	// is the word at offset 0x38 of a database header.
	const block, field = 4096, 0x38
	mix := func(word uint64) uint64 { return word * 0xbf58476d1ce4e5b9 }
	for _, start := range []int{block, 2 * block} {
		if len(file) < start+block {
			return fmt.Errorf("%s: %d bytes, too short for a DuckDB file", path, len(file))
		}
		header := file[start : start+block]
		if old := binary.LittleEndian.Uint64(header[field:]); old != 69 {
			return fmt.Errorf("%s: storage version field is %d, not 69: DuckDB's header layout changed", path, old)
		}
		sum := binary.LittleEndian.Uint64(header) ^ mix(69) ^ mix(70)
		binary.LittleEndian.PutUint64(header[field:], 70)
		binary.LittleEndian.PutUint64(header, sum)
	}
	return os.WriteFile(path, file, 0o644)
}
