package cli

import (
	"flag"
	"fmt"
	"net/url"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
)

// runCheck updates a ttl check: shoal check pass|warn|fail ID [-note TEXT].
func runCheck(e env, args []string) int {
	fs := newFlags(e, "check", "pass|warn|fail ID [-note TEXT]")
	c := fs.client()
	note := fs.String("note", "", "a short `text` shown with the status (gossiped, so keep it short)")
	pos, code, ok := parseInterspersed(fs.FlagSet, args)
	if !ok {
		return code
	}
	if len(pos) != 2 {
		return fs.usageErr("want a status (pass, warn or fail) and a check ID")
	}
	status, id := pos[0], pos[1]
	switch status {
	case "pass", "warn", "fail":
	default:
		return fs.usageErr("status %q is not pass, warn or fail", status)
	}
	if err := c.call("PUT", checkPath(id, status), checkBody(*note), nil); err != nil {
		return fail(e, "check", err)
	}
	return exitOK
}

// checkPath and checkBody are the request of `shoal check`.
func checkPath(id, status string) string {
	return "/v1/agent/checks/" + url.PathEscape(id) + "/" + status
}

func checkBody(note string) any {
	if note == "" {
		return nil
	}
	return api.CheckUpdate{Note: note}
}

// runMaint switches maintenance of the node or one instance, or with
// neither -enable nor -disable shows what is in maintenance.
func runMaint(e env, args []string) int {
	fs := newFlags(e, "maint", "[-enable [-reason TEXT] | -disable] [-service ID]")
	c := fs.client()
	enable := fs.Bool("enable", false, "put the node, or the -service, in maintenance: it takes no traffic")
	disable := fs.Bool("disable", false, "take the node, or the -service, out of maintenance")
	service := fs.String("service", "", "the instance `ID` (default: the whole node)")
	reason := fs.String("reason", "", "why, shown in members, the API and DNS TXT (`text`)")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	path, req, err := maintRequest(*enable, *disable, *service, *reason)
	if err != nil {
		return fs.usageErr("%v", err)
	}
	if path == "" {
		return showMaint(e, c)
	}
	if err := c.call("PUT", path, req, nil); err != nil {
		return fail(e, "maint", err)
	}
	return exitOK
}

// maintRequest maps the flags to the API call; path "" means show.
func maintRequest(enable, disable bool, service, reason string) (string, api.MaintenanceRequest, error) {
	switch {
	case enable && disable:
		return "", api.MaintenanceRequest{}, fmt.Errorf("-enable and -disable exclude each other")
	case !enable && !disable:
		if service != "" || reason != "" {
			return "", api.MaintenanceRequest{}, fmt.Errorf("-service and -reason go with -enable or -disable")
		}
		return "", api.MaintenanceRequest{}, nil
	case disable && reason != "":
		return "", api.MaintenanceRequest{}, fmt.Errorf("-reason goes with -enable")
	}
	path := "/v1/agent/maintenance"
	if service != "" {
		path = "/v1/agent/services/" + url.PathEscape(service) + "/maintenance"
	}
	return path, api.MaintenanceRequest{Enable: enable, Reason: reason}, nil
}

func showMaint(e env, c *client) int {
	var a api.AgentServices
	if err := c.call("GET", "/v1/agent/services", nil, &a); err != nil {
		return fail(e, "maint", err)
	}
	none := true
	for _, ch := range a.NodeChecks {
		if ch.Status == "maintenance" {
			fmt.Fprintf(e.stdout, "node %s: maintenance %s\n", safe(a.Node), safe(orDash(ch.Note)))
			none = false
		}
	}
	for _, s := range a.Services {
		if s.Maintenance {
			fmt.Fprintf(e.stdout, "service %s: maintenance %s\n", safe(s.ID), safe(orDash(s.MaintenanceReason)))
			none = false
		}
	}
	if none {
		fmt.Fprintln(e.stdout, "Nothing is in maintenance.")
	}
	return exitOK
}

// parseInterspersed parses flags that may come before, between or after
// the positional arguments (`shoal check pass ID -note TEXT`), which flag
// alone stops at.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	var pos []string
	for {
		if code, ok := parseFlagSet(fs, args); !ok {
			return nil, code, false
		}
		if fs.NArg() == 0 {
			return pos, 0, true
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
