package checks

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/node"
)

func TestDefinition_JSON(t *testing.T) {
	d := Definition{ID: "web", ServiceID: "web", HTTP: "http://127.0.0.1/health", Header: map[string][]string{"Host": {"web"}},
		Interval: time.Second, Timeout: 500 * time.Millisecond, FailuresBeforeCritical: 3, Initial: node.HealthPassing, InitialSet: true}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"interval":"1s"`, `"timeout":"500ms"`, `"initial":"passing"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s: want it to contain %s", b, want)
		}
	}
	var back Definition
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, d) {
		t.Errorf("round trip: got %+v, want %+v", back, d)
	}
	for in, want := range map[string]string{
		`{"id":"c","interval":"soon"}`:   `check "c": interval: time: invalid duration "soon"`,
		`{"id":"c","initial":"maint"}`:   `check "c": initial: "maint" is not passing, warning or critical`,
		`{"id":"c","ttl":"1x"}`:          `check "c": ttl: time: unknown unit "x"`,
		`{"id":"c","initial":"warning"}`: ``,
	} {
		var d Definition
		err := json.Unmarshal([]byte(in), &d)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: got %v, want %q", in, err, want)
		}
	}
}
