package share

import "testing"

// TestAnswerID: answers are found, whatever the key order, with their id;
// nothing else is.
func TestAnswerID(t *testing.T) {
	for _, tc := range []struct {
		line, id string
	}{
		{`{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`, "1"},
		{`{"jsonrpc":"2.0","id":"a","error":{"code":-32601,"message":"no"}}`, `"a"`},
		{`{"result":{"x":[1,{"id":2}]},"jsonrpc":"2.0","id":7}`, "7"}, // id after the result
		{`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}`, ""},
		{`{"jsonrpc":"2.0","id":3,"method":"ping"}`, ""}, // a request to the client
		{`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}`, ""},
		{`{"jsonrpc":"2.0","result":{}}`, ""},
		{`not json`, ""},
		{`[1,2]`, ""},
		{``, ""},
	} {
		id, ok := answerID([]byte(tc.line))
		if ok != (tc.id != "") || string(id) != tc.id && ok {
			t.Errorf("answerID(%s) = %s, %v; want %q", tc.line, id, ok, tc.id)
		}
	}
}
