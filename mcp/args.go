package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// validated checks a call's arguments against the tool's input schema
// before handler runs, and answers bad ones with an isError result that
// names each bad argument in a sentence ("limit must be a whole number from
// 1 to 200; got 0"). The schema is the single statement of the rules; this
// reads the subset of JSON Schema the tools use.
func validated(tool mcpgo.Tool, handler server.ToolHandlerFunc) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		args, err := arguments(req)
		if err == nil {
			err = checkArgs(tool.InputSchema, args)
		}
		if err != nil {
			return mcpgo.NewToolResultErrorf("Invalid arguments for %s: %v. Nothing was done; fix the arguments and call again.", tool.Name, err), nil
		}
		return handler(ctx, req)
	}
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

func checkArgs(schema mcpgo.ToolInputSchema, args map[string]any) error {
	var problems []string
	for _, name := range schema.Required {
		if v, ok := args[name]; !ok || v == nil {
			problems = append(problems, fmt.Sprintf("%s is required", name))
		}
	}
	names := make([]string, 0, len(args))
	for name := range args {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		prop, known := schema.Properties[name].(map[string]any)
		if !known {
			problems = append(problems, fmt.Sprintf("%s is not an argument of this tool (it takes %s)", name, argList(schema)))
			continue
		}
		if v := args[name]; v != nil || !slices.Contains(schema.Required, name) {
			if p := checkValue(name, prop, v); p != "" {
				problems = append(problems, p)
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func argList(schema mcpgo.ToolInputSchema) string {
	if len(schema.Properties) == 0 {
		return "no arguments"
	}
	names := make([]string, 0, len(schema.Properties))
	for name := range schema.Properties {
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// checkValue returns what is wrong with v as the property name, or "".
func checkValue(name string, prop map[string]any, v any) string {
	if v == nil {
		return "" // JSON null for an optional argument means "not given"
	}
	got := fmt.Sprintf("got %s", describe(v))
	switch prop["type"] {
	case "string":
		s, ok := v.(string)
		if !ok {
			return fmt.Sprintf("%s must be a string; %s", name, got)
		}
		if enum, ok := prop["enum"].([]string); ok && !slices.Contains(enum, s) {
			return fmt.Sprintf("%s must be one of %s; %s", name, strings.Join(enum, ", "), got)
		}
		n := len([]rune(s))
		if lo, ok := number(prop["minLength"]); ok && float64(n) < lo {
			return fmt.Sprintf("%s must not be empty", name)
		}
		if hi, ok := number(prop["maxLength"]); ok && float64(n) > hi {
			return fmt.Sprintf("%s must be at most %v characters; got %d", name, hi, n)
		}
	case "integer":
		f, ok := number(v)
		if !ok || f != math.Trunc(f) {
			return fmt.Sprintf("%s must be a whole number%s; %s", name, bounds(prop), got)
		}
		lo, hasLo := number(prop["minimum"])
		hi, hasHi := number(prop["maximum"])
		if (hasLo && f < lo) || (hasHi && f > hi) {
			return fmt.Sprintf("%s must be a whole number%s; %s", name, bounds(prop), got)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Sprintf("%s must be true or false; %s", name, got)
		}
	case "array":
		list, ok := v.([]any)
		if !ok {
			return fmt.Sprintf("%s must be an array; %s", name, got)
		}
		if items, ok := prop["items"].(map[string]any); ok {
			for i, item := range list {
				if p := checkValue(fmt.Sprintf("%s[%d]", name, i), items, item); p != "" {
					return p
				}
			}
		}
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s must be an object; %s", name, got)
		}
		if lo, ok := number(prop["minProperties"]); ok && float64(len(obj)) < lo {
			return fmt.Sprintf("%s must not be empty", name)
		}
		if each, ok := prop["additionalProperties"].(map[string]any); ok {
			keys := make([]string, 0, len(obj))
			for k := range obj {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				if p := checkValue(name+"."+k, each, obj[k]); p != "" {
					return p
				}
			}
		}
	}
	return ""
}

// bounds describes an integer property's range and default for messages.
func bounds(prop map[string]any) string {
	lo, hasLo := number(prop["minimum"])
	hi, hasHi := number(prop["maximum"])
	s := ""
	switch {
	case hasLo && hasHi:
		s = fmt.Sprintf(" from %v to %v", lo, hi)
	case hasLo:
		s = fmt.Sprintf(" of at least %v", lo)
	case hasHi:
		s = fmt.Sprintf(" of at most %v", hi)
	}
	if d, ok := number(prop["default"]); ok {
		s += fmt.Sprintf(" (default %v)", d)
	}
	return s
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

// describe shows a JSON value briefly, for "got ..." in messages.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprint(x)
	case float64:
		return fmt.Sprint(x)
	case []any:
		return fmt.Sprintf("an array of %d", len(x))
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%v", v)
}
