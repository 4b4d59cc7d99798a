package archive

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/healthsim/healthsim-go/mcp/scenario"
)

// timeLayout is how text formats write times: RFC 3339, UTC, microseconds
// (what a DuckDB TIMESTAMP holds).
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

// headerLine is a scenarios.jsonl line.
type headerLine struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Tags        []string `json:"tags"`
	CreatedAt   string   `json:"created_at"`
	UpdatedAt   string   `json:"updated_at"`
}

// entityLine is an entities.jsonl line: the entity's JSON in entity_data
// when it can be embedded without changing a byte, else in entity_data_text.
type entityLine struct {
	Type string          `json:"entity_type"`
	ID   string          `json:"entity_id"`
	Data json.RawMessage `json:"entity_data,omitempty"`
	Text *string         `json:"entity_data_text,omitempty"`
}

func newEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

func writeHeaderJSONL(w io.Writer, rec *scenario.Record) error {
	return newEncoder(w).Encode(headerLine{ID: rec.ID, Name: rec.Name, Description: rec.Description,
		Tags: nonNil(rec.Tags), CreatedAt: formatTime(rec.CreatedAt), UpdatedAt: formatTime(rec.UpdatedAt)})
}

func writeEntitiesJSONL(w io.Writer, rec *scenario.Record) error {
	enc := newEncoder(w)
	for _, e := range rec.Entities {
		line := entityLine{Type: e.Type, ID: e.ID}
		if embeddable(e.Data) {
			line.Data = e.Data
		} else {
			text := string(e.Data)
			line.Text = &text
		}
		if err := enc.Encode(line); err != nil {
			return err
		}
	}
	return nil
}

// embeddable reports whether the encoder writes data unchanged: valid,
// compact JSON (the encoder compacts embedded JSON, and a line break would
// end the line).
func embeddable(data []byte) bool {
	if len(data) == 0 || !json.Valid(data) {
		return false
	}
	var b bytes.Buffer
	return json.Compact(&b, data) == nil && bytes.Equal(b.Bytes(), data)
}

func readHeaderJSONL(r io.Reader) (*scenario.Record, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var h headerLine
	if err := dec.Decode(&h); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty")
		}
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one scenario in the file")
	}
	return headerRecord(h.ID, h.Name, h.Description, h.Tags, h.CreatedAt, h.UpdatedAt)
}

func readEntitiesJSONL(r io.Reader) ([]scenario.EntityRecord, error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	dec.DisallowUnknownFields()
	var out []scenario.EntityRecord
	for n := 1; ; n++ {
		var line entityLine
		if err := dec.Decode(&line); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("entity %d: %w", n, err)
		}
		e := scenario.EntityRecord{Type: line.Type, ID: line.ID}
		switch {
		case line.Text != nil && len(line.Data) == 0:
			e.Data = json.RawMessage(*line.Text)
		case line.Text == nil && len(line.Data) > 0 && string(line.Data) != "null":
			e.Data = line.Data // the bytes as they are in the file
		default:
			return nil, fmt.Errorf("entity %d: give either entity_data or entity_data_text", n)
		}
		out = append(out, e)
	}
}

var (
	headerColumns = []string{"id", "name", "description", "tags", "created_at", "updated_at"}
	entityColumns = []string{"entity_type", "entity_id", "entity_data"}
)

// errCRLF: encoding/csv reads a CR LF inside a quoted value as LF, so such
// a value would not come back byte for byte.
var errCRLF = errors.New("has a CR LF line break, which CSV does not keep; export it as jsonl or parquet")

func writeCSV(w io.Writer, columns []string, rows [][]string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(columns); err != nil {
		return err
	}
	for n, row := range rows {
		for i, v := range row {
			if strings.Contains(v, "\r\n") {
				return fmt.Errorf("the %s of row %d %w", columns[i], n+1, errCRLF)
			}
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func writeHeaderCSV(w io.Writer, rec *scenario.Record) error {
	tags, err := json.Marshal(nonNil(rec.Tags))
	if err != nil {
		return err
	}
	return writeCSV(w, headerColumns, [][]string{{rec.ID, rec.Name, rec.Description, string(tags),
		formatTime(rec.CreatedAt), formatTime(rec.UpdatedAt)}})
}

func writeEntitiesCSV(w io.Writer, rec *scenario.Record) error {
	rows := make([][]string, len(rec.Entities))
	for i, e := range rec.Entities {
		rows[i] = []string{e.Type, e.ID, string(e.Data)}
	}
	return writeCSV(w, entityColumns, rows)
}

// readCSV reads a CSV file whose header is columns, in that order.
func readCSV(r io.Reader, columns []string) ([][]string, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	// Every record must have as many fields as the header, checked below.
	cr.FieldsPerRecord = 0
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the file is empty")
	}
	if err != nil {
		return nil, err
	}
	if !slices.Equal(head, columns) {
		return nil, fmt.Errorf("the header is %q, want %q", head, columns)
	}
	return cr.ReadAll()
}

func readHeaderCSV(r io.Reader) (*scenario.Record, error) {
	rows, err := readCSV(r, headerColumns)
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, fmt.Errorf("%d scenarios in the file, want 1", len(rows))
	}
	row := rows[0]
	var tags []string
	if err := json.Unmarshal([]byte(row[3]), &tags); err != nil {
		return nil, fmt.Errorf("tags must be a JSON array of strings: %w", err)
	}
	return headerRecord(row[0], row[1], row[2], tags, row[4], row[5])
}

func readEntitiesCSV(r io.Reader) ([]scenario.EntityRecord, error) {
	rows, err := readCSV(r, entityColumns)
	if err != nil {
		return nil, err
	}
	out := make([]scenario.EntityRecord, len(rows))
	for i, row := range rows {
		out[i] = scenario.EntityRecord{Type: row[0], ID: row[1], Data: json.RawMessage(row[2])}
	}
	return out, nil
}

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func headerRecord(id, name, description string, tags []string, created, updated string) (*scenario.Record, error) {
	rec := &scenario.Record{ID: id, Name: name, Description: description, Tags: nonNil(tags)}
	var err error
	if rec.CreatedAt, err = time.Parse(time.RFC3339Nano, created); err != nil {
		return nil, fmt.Errorf("created_at: %w", err)
	}
	if rec.UpdatedAt, err = time.Parse(time.RFC3339Nano, updated); err != nil {
		return nil, fmt.Errorf("updated_at: %w", err)
	}
	rec.CreatedAt, rec.UpdatedAt = rec.CreatedAt.UTC(), rec.UpdatedAt.UTC()
	return rec, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// openRead opens a file of an export for reading.
func openRead(path string, g guard) (*os.File, error) {
	if err := g.check(path); err != nil {
		return nil, err
	}
	return os.Open(path)
}
