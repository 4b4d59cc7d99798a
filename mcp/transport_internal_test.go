package mcp

import "testing"

// TestIsResponse: the answer counter behind ServeStdio's drain at the end
// of stdin counts responses, whatever the key order, and nothing else.
func TestIsResponse(t *testing.T) {
	for _, tc := range []struct {
		line string
		want bool
	}{
		{`{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`, true},
		{`{"jsonrpc":"2.0","id":"a","error":{"code":-32601,"message":"no"}}`, true},
		{`{"result":{"x":[1,{"id":2}]},"jsonrpc":"2.0","id":7}`, true}, // id after the result
		{`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}`, false},
		{`{"jsonrpc":"2.0","id":3,"method":"ping"}`, false}, // a request to the client
		{`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}`, false},
		{`{"jsonrpc":"2.0","result":{}}`, false},
		{`not json`, false},
		{`[1,2]`, false},
		{``, false},
	} {
		if got := isResponse([]byte(tc.line)); got != tc.want {
			t.Errorf("isResponse(%s) = %v, want %v", tc.line, got, tc.want)
		}
	}
}
