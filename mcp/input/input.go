// Package input is the error the HealthSim stores return for input they
// refused before anything changed.
package input

import "fmt"

// Error reports input that was refused before anything changed. Field
// names the bad input ("name", "entities.patients[3].birth_date", "limit",
// or the CSV column of a bad value); Error() is a sentence a person can act
// on.
type Error struct {
	Field   string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Invalid returns an *Error for field whose message starts with the field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}
