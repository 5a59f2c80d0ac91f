package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDecode_RefusesBodiesThatFailTheirCheck: decode answers 400 with the
// body's own complaint, and passes a body that is whole.
func TestDecode_RefusesBodiesThatFailTheirCheck(t *testing.T) {
	long := `"` + strings.Repeat("x", maxNoteLen+1) + `"`
	for _, c := range []struct {
		body string
		v    any
		want string // "": accepted
	}{
		{`{}`, &JoinRequest{}, "no addresses to join"},
		{`{"addrs":["a:1"]}`, &JoinRequest{}, ""},
		{`{}`, &ForceLeaveRequest{}, "no node named"},
		{`{}`, &EventRequest{}, "event has no name"},
		{`{}`, &QueryRequest{}, "query has no name"},
		{`{"name":"q"}`, &QueryRequest{}, ""},
		{`{"reason":` + long + `}`, &MaintenanceRequest{}, "maintenance: reason is 1025 bytes, at most 1024"},
		{`{"note":` + long + `}`, &CheckUpdate{}, "check: note is 1025 bytes, at most 1024"},
		{`{"note":"ok"}`, &CheckUpdate{}, ""},
		{`{"nope":1}`, &ServiceRegistration{}, `bad request body: json: unknown field "nope"`},
	} {
		w := httptest.NewRecorder()
		ok := decode(w, httptest.NewRequest("POST", "/", strings.NewReader(c.body)), c.v)
		var got Error
		_ = json.Unmarshal(w.Body.Bytes(), &got)
		if c.want == "" {
			if !ok || w.Body.Len() != 0 {
				t.Errorf("decode(%T %s): got ok %v, answer %q; want accepted, no answer", c.v, c.body, ok, w.Body.String())
			}
			continue
		}
		if ok || w.Code != http.StatusBadRequest || got.Error != c.want {
			t.Errorf("decode(%T %.40s): got ok %v, %d %q; want refused, 400 %q", c.v, c.body, ok, w.Code, got.Error, c.want)
		}
	}
}
