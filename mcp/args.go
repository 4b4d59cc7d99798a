package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// validated checks a call's arguments against the tool's input schema with
// a JSON Schema validator before handler runs, and answers bad ones with an
// isError result that names each bad argument and its rule in a sentence
// ("limit must be a whole number from 1 to 200 (default 50); got 0"). The
// schema is the single statement of the rules. It panics if the tool's
// schema is not valid JSON Schema: the tools are fixed, and a test builds
// them all.
func validated(tool mcpgo.Tool, handler server.ToolHandlerFunc) server.ToolHandlerFunc {
	schema := newArgSchema(tool)
	return func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		args, err := arguments(req)
		if err == nil {
			err = schema.check(args)
		}
		if err != nil {
			return mcpgo.NewToolResultErrorf("Invalid arguments for %s: %v. Nothing was done; fix the arguments and call again.", tool.Name, err), nil
		}
		return handler(ctx, req)
	}
}

// argSchema is a tool's input schema, resolved for validation as a whole
// and per argument (to name each bad one).
type argSchema struct {
	whole    *jsonschema.Resolved
	props    map[string]*jsonschema.Schema
	resolved map[string]*jsonschema.Resolved
	required []string
}

func newArgSchema(tool mcpgo.Tool) *argSchema {
	raw, err := json.Marshal(tool.InputSchema)
	if err != nil {
		panic(fmt.Sprintf("mcp: tool %s: input schema: %v", tool.Name, err))
	}
	var root jsonschema.Schema
	if err := json.Unmarshal(raw, &root); err != nil {
		panic(fmt.Sprintf("mcp: tool %s: input schema: %v", tool.Name, err))
	}
	s := &argSchema{props: root.Properties, resolved: map[string]*jsonschema.Resolved{}, required: root.Required}
	if s.whole, err = root.Resolve(nil); err != nil {
		panic(fmt.Sprintf("mcp: tool %s: input schema: %v", tool.Name, err))
	}
	for name, prop := range root.Properties {
		if s.resolved[name], err = prop.Resolve(nil); err != nil {
			panic(fmt.Sprintf("mcp: tool %s: argument %s: %v", tool.Name, name, err))
		}
	}
	return s
}

// arguments returns the call's arguments as a JSON object.
func arguments(req mcpgo.CallToolRequest) (map[string]any, error) {
	var raw []byte
	if len(req.Params.RawArguments) > 0 {
		raw = req.Params.RawArguments
	} else {
		var err error
		if raw, err = json.Marshal(req.Params.Arguments); err != nil {
			return nil, fmt.Errorf("the arguments are not JSON")
		}
	}
	var args map[string]any
	if err := json.Unmarshal(raw, &args); err != nil {
		return nil, fmt.Errorf("the arguments must be a JSON object")
	}
	return args, nil
}

// check validates args; JSON null for an optional argument means "not
// given", and an argument the tool does not declare is refused. When args
// are invalid, each bad argument is named with its rule.
func (s *argSchema) check(args map[string]any) error {
	given := map[string]any{}
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(args)) {
		switch v := args[name]; {
		case s.props[name] == nil:
			problems = append(problems, fmt.Sprintf("%s is not an argument of this tool (it takes %s)", name, s.argList()))
		case v != nil || slices.Contains(s.required, name):
			given[name] = v
		}
	}
	err := s.whole.Validate(given)
	if err == nil && len(problems) == 0 {
		return nil
	}
	for _, name := range s.required {
		if v, ok := given[name]; !ok || v == nil {
			problems = append(problems, name+" is required")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(given)) {
		if v := given[name]; v != nil && s.resolved[name].Validate(v) != nil {
			problems = append(problems, fmt.Sprintf("%s %s; got %s", name, rule(s.props[name]), describe(v)))
		}
	}
	if len(problems) == 0 { // a rule across arguments: say what the validator says
		return err
	}
	return fmt.Errorf("%s", strings.Join(problems, "; "))
}

func (s *argSchema) argList() string {
	if len(s.props) == 0 {
		return "no arguments"
	}
	return strings.Join(slices.Sorted(maps.Keys(s.props)), ", ")
}

// rule says in words what a property's schema asks of its value ("must be
// a whole number from 1 to 200 (default 50)").
func rule(p *jsonschema.Schema) string {
	if len(p.Enum) > 0 {
		values := make([]string, len(p.Enum))
		for i, v := range p.Enum {
			values[i] = fmt.Sprint(v)
		}
		return "must be one of " + strings.Join(values, ", ")
	}
	r := "must be " + noun(p, false)
	switch p.Type {
	case "string":
		r += lengths(p.MinLength, p.MaxLength, "character", "characters")
	case "integer", "number":
		r += between(p.Minimum, p.Maximum)
	case "array":
		r += lengths(p.MinItems, p.MaxItems, "item", "items")
	case "object":
		r += lengths(p.MinProperties, p.MaxProperties, "entry", "entries")
	}
	if p.AdditionalProperties != nil {
		r += " whose values are " + noun(p.AdditionalProperties, true)
	}
	if len(p.Default) > 0 && p.Type != "object" && p.Type != "array" {
		r += fmt.Sprintf(" (default %s)", p.Default)
	}
	return r
}

// kinds names each JSON Schema type, as one value and in the plural.
var kinds = map[string][2]string{
	"string":  {"a string", "strings"},
	"integer": {"a whole number", "whole numbers"},
	"number":  {"a number", "numbers"},
	"boolean": {"true or false", "true or false"},
	"array":   {"an array", "arrays"},
	"object":  {"an object", "objects"},
}

// noun names the kind of value a schema admits ("a whole number", or in
// the plural "arrays of objects").
func noun(p *jsonschema.Schema, plural bool) string {
	k, ok := kinds[p.Type]
	if !ok {
		return "a valid value"
	}
	n := k[0]
	if plural {
		n = k[1]
	}
	if p.Type == "array" && p.Items != nil {
		n += " of " + noun(p.Items, true)
	}
	return n
}

// between describes a numeric range.
func between(lo, hi *float64) string {
	switch {
	case lo != nil && hi != nil:
		return fmt.Sprintf(" from %v to %v", *lo, *hi)
	case lo != nil:
		return fmt.Sprintf(" of at least %v", *lo)
	case hi != nil:
		return fmt.Sprintf(" of at most %v", *hi)
	}
	return ""
}

// lengths describes a size range ("of 1 to 200 characters").
func lengths(lo, hi *int, one, many string) string {
	unit := func(n int) string {
		if n == 1 {
			return one
		}
		return many
	}
	switch {
	case lo != nil && hi != nil:
		return fmt.Sprintf(" of %d to %d %s", *lo, *hi, unit(*hi))
	case lo != nil && *lo > 0:
		return fmt.Sprintf(" of at least %d %s", *lo, unit(*lo))
	case hi != nil:
		return fmt.Sprintf(" of at most %d %s", *hi, unit(*hi))
	}
	return ""
}

// describe shows a JSON value briefly, for "got ..." in messages.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		if r := []rune(x); len(r) > 40 {
			x = string(r[:40]) + "…"
		}
		return fmt.Sprintf("the string %q", x)
	case []any:
		return fmt.Sprintf("an array of %d", len(x))
	case map[string]any:
		return fmt.Sprintf("an object of %d", len(x))
	}
	return fmt.Sprint(v)
}
