package cli_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
	"github.com/shoal-dev/shoal/internal/testutil"
)

// servicesPhase: a runtime registration with a ttl check, as its owner
// sees it (services -local) and as the cluster does (services, members on
// beta), through check pass and fail, maintenance and deregistration.
func servicesPhase(t *testing.T, a, b *inprocAgent) {
	out := a.mustRun(t, "services register", "-name", "web", "-port", "8080", "-tag", "v1", "-check-ttl", "1h", "-check-id", "web-ttl")
	if want := "Registered web (web) on port 8080; health critical.\n"; out != want {
		t.Errorf("shoal services register: got %q, want %q", out, want)
	}
	a.mustRun(t, "check pass web-ttl", "-note", "fine")
	localService(t, a, "web (web) - port 8080: passing, runtime, tags v1", "  check web-ttl: passing (ttl), fine")
	waitOutput(t, b, "services", nil, func(out string) error {
		if lineWith(out, "web", "web", "alpha", "127.0.0.1:8080", "passing", "v1") == "" {
			return fmt.Errorf("no passing row for alpha's web")
		}
		return nil
	})

	a.mustRun(t, "check", "fail", "web-ttl", "-note", "broken")
	localService(t, a, "web (web) - port 8080: critical, runtime, tags v1", "  check web-ttl: critical (ttl), broken")
	waitOutput(t, b, "members", nil, func(out string) error {
		if l := lineWith(out, "alpha"); !strings.HasSuffix(l, "health=passing, 1 of 1 services out") {
			return fmt.Errorf("alpha's line %q does not count web out", l)
		}
		return nil
	})
	waitOutput(t, b, "members", []string{"-detailed"}, func(out string) error {
		return contains(lineWith(out, "alpha"), "  Services: web:8080:v1(critical)  ")
	})

	a.mustRun(t, "maint", "-enable", "-service", "web", "-reason", "deploy")
	if out := a.mustRun(t, "maint"); out != "service web: maintenance deploy\n" {
		t.Errorf("shoal maint: got %q, want web in maintenance for deploy", out)
	}
	localService(t, a, "web (web) - port 8080: maintenance, runtime, tags v1, maintenance: deploy",
		"  check _maintenance: maintenance (maintenance), deploy")
	var as api.AgentServices
	if out := a.mustRun(t, "services", "-local", "-format", "json"); json.Unmarshal([]byte(out), &as) != nil ||
		len(as.Services) != 1 || !as.Services[0].Maintenance || as.Services[0].MaintenanceReason != "deploy" {
		t.Errorf("shoal services -local -format json: got %q, want web in maintenance for deploy", out)
	}
	a.mustRun(t, "maint", "-disable", "-service", "web")
	if out := a.mustRun(t, "maint"); out != "Nothing is in maintenance.\n" {
		t.Errorf("shoal maint after -disable: got %q", out)
	}

	if out := a.mustRun(t, "services deregister", "web"); out != "Deregistered web.\n" {
		t.Errorf("shoal services deregister web: got %q", out)
	}
	if out := a.mustRun(t, "services", "-local"); out != "node alpha: passing\n" {
		t.Errorf("shoal services -local after deregister: got %q, want the node line only", out)
	}
	waitOutput(t, b, "services", []string{"-format", "json"}, func(out string) error {
		if strings.TrimSpace(out) != "[]" {
			return fmt.Errorf("beta still lists instances")
		}
		return nil
	})
	oneErrorLine(t, a.at([]string{"services", "deregister"}, "web"), 1, `"web"`, "no such service")
	oneErrorLine(t, a.at([]string{"check", "pass", "web-ttl"}), 1, `"web-ttl"`, "no such check")
}

// localService checks that `services -local` shows the instance line and
// the check line, one under the other.
func localService(t *testing.T, a *inprocAgent, instance, check string) {
	t.Helper()
	out := a.mustRun(t, "services", "-local")
	ls := strings.Split(out, "\n")
	if len(ls) < 3 || ls[0] != "node alpha: passing" || ls[1] != instance || !strings.Contains(out, "\n"+check+"\n") {
		t.Errorf("shoal services -local: got\n%s\nwant node alpha: passing, then %q and %q", out, instance, check)
	}
}

// nodeMaintPhase: the whole node in maintenance, with its reason in the
// members' health cell on the other agent.
func nodeMaintPhase(t *testing.T, a, b *inprocAgent) {
	a.mustRun(t, "maint", "-enable", "-reason", "upgrade")
	if out := a.mustRun(t, "maint"); out != "node alpha: maintenance upgrade\n" {
		t.Errorf("shoal maint: got %q, want the node in maintenance for upgrade", out)
	}
	waitOutput(t, b, "members", nil, func(out string) error {
		if l := lineWith(out, "alpha"); !strings.HasSuffix(l, "health=maintenance (upgrade)") {
			return fmt.Errorf("alpha's line %q has no maintenance cell", l)
		}
		return nil
	})
	a.mustRun(t, "maint", "-disable")
	if out := a.mustRun(t, "maint"); out != "Nothing is in maintenance.\n" {
		t.Errorf("shoal maint after -disable: got %q", out)
	}
	waitOutput(t, b, "members", nil, func(out string) error {
		if strings.Contains(out, "health=") {
			return fmt.Errorf("a health cell is left")
		}
		return nil
	})
}

// keysPhase rotates the gossip key with a key from shoal keygen: install,
// use, remove the old one; removing the primary is refused by each node,
// one line per node.
func keysPhase(t *testing.T, a *inprocAgent, old string) {
	// Each operation is a query to every member; under load one may
	// answer late, and each is safe to repeat, so each is retried.
	waitOutput(t, a, "keys", []string{"-list"}, func(out string) error {
		if l := lineWith(out, old); strings.Join(strings.Fields(l), " ") != old+" 2/2 2" {
			return fmt.Errorf("row %q, want the key on 2/2 nodes, primary on 2", l)
		}
		return nil
	})
	next := keygenKey(t)
	for _, op := range [][]string{{"-install", next}, {"-use", next}, {"-remove", old}} {
		waitOutput(t, a, "keys", op, func(out string) error {
			if out != "Done: 2 of 2 nodes answered.\n" {
				return fmt.Errorf("want both nodes")
			}
			return nil
		})
	}
	waitOutput(t, a, "keys", []string{"-list"}, func(out string) error {
		if ls := lines(out); len(ls) != 2 || ls[0] != "KEY                                           NODES  PRIMARY" ||
			strings.Join(strings.Fields(ls[1]), " ") != next+" 2/2 2" {
			return fmt.Errorf("want the header and the new key alone, on 2/2, primary on 2")
		}
		return nil
	})
	want := "shoal keys: 2 of 2 nodes reported an error\n" +
		"shoal keys: alpha: removing the primary key is not allowed\n" +
		"shoal keys: beta: removing the primary key is not allowed\n"
	testutil.WaitFor(t, waitLong, func() error {
		if code, out, errOut := a.run("keys", "-remove", next); code != 1 || out != "" || errOut != want {
			return fmt.Errorf("shoal keys -remove PRIMARY: exit %d, stdout %q, stderr %q; want 1 and\n%s", code, out, errOut, want)
		}
		return nil
	})
}

// forceLeavePhase stops beta without leaving; once alpha sees it failed,
// force-leave makes it left.
func forceLeavePhase(t *testing.T, a, b *inprocAgent) {
	oneErrorLine(t, a.at([]string{"force-leave"}, "nosuch"), 1, `"nosuch": no such member`)
	b.stop(t)
	waitOutput(t, a, "members", []string{"-status", "failed"}, func(out string) error {
		if lineWith(out, "beta", b.GossipAddr(), "failed") == "" {
			return fmt.Errorf("beta is not failed yet")
		}
		return nil
	})
	if out := a.mustRun(t, "force-leave", "beta"); out != "" {
		t.Errorf("shoal force-leave beta: stdout %q, want nothing", out)
	}
	waitOutput(t, a, "members", []string{"-status", "left"}, func(out string) error {
		if lineWith(out, "beta", b.GossipAddr(), "left") == "" {
			return fmt.Errorf("beta is not left")
		}
		return nil
	})
}
