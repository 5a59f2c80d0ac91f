package cli

import (
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/shoal-dev/shoal/cmd/shoal/internal/api"
)

func runMembers(e env, args []string) int {
	fs := newFlags(e, "members", "[-detailed] [-name REGEX] [-role REGEX] [-status REGEX] [-tag KEY=REGEX]... [-format text|json]")
	c := fs.client()
	detailed := fs.Bool("detailed", false, "also show protocol versions and services (text output)")
	name := fs.String("name", "", "only members whose name matches `REGEX`")
	role := fs.String("role", "", "only members whose role tag matches `REGEX` (the same as -tag role=REGEX)")
	status := fs.String("status", "", "only members whose status matches `REGEX` (alive, leaving, left, failed)")
	var tags repeated
	fs.Var(&tags, "tag", "only members with a tag matching `KEY=REGEX` (repeatable)")
	format := fs.formatFlag("output `format`: text (Serf's columns: name addr status tags) or json")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if *role != "" {
		// As in Serf, -role is a tag filter on "role", applied last.
		tags = append(tags, "role="+*role)
	}
	// Check the filters here so a typo is a usage error, not a 400.
	if _, err := api.NewMemberFilter(*status, tags, *name); err != nil {
		return fs.usageErr("%v", err)
	}
	q := url.Values{}
	if *status != "" {
		q.Set("status", *status)
	}
	if *name != "" {
		q.Set("name", *name)
	}
	for _, t := range tags {
		q.Add("tag", t)
	}
	var members []api.Member
	if err := c.call("GET", "/v1/members?"+q.Encode(), nil, &members); err != nil {
		return fail(e, "members", err)
	}
	return printAs(e, *format, members, func() { printMembers(e.stdout, members, *detailed) })
}

// printMembers writes members in the layout of `serf members`, so scripts
// written for Serf read it unchanged: one line per member, columns name,
// addr (ip:port), status and tags (k=v,k=v), aligned with two spaces, the
// last column not padded, no header. -detailed adds Serf's two protocol
// columns; shoal's one protocol is memberlist's (Serf shows its own
// delegate protocol there), and services, which Serf has not, come last.
// Like Serf, the whole output is trimmed and ends in one newline, so no
// members print an empty line.
func printMembers(w io.Writer, members []api.Member, detailed bool) {
	rows := make([][]string, 0, len(members))
	for _, m := range members {
		row := []string{safe(m.Name), safe(hostPort(m.Addr, m.Port)), safe(m.Status), safe(tagString(m.Tags))}
		if detailed {
			row = append(row,
				fmt.Sprintf("Protocol Version: %d", m.Protocol[2]),
				fmt.Sprintf("Available Protocol Range: [%d, %d]", m.Protocol[0], m.Protocol[1]))
			if len(m.Services) > 0 {
				row = append(row, "Services: "+safe(serviceString(m.Services)))
			}
			if len(m.Checks) > 0 {
				row = append(row, "Checks: "+safe(checkString(m.Checks)))
			}
		}
		// Health, which Serf has not, comes last and only when it is not
		// passing, so scripts reading Serf's columns are unaffected.
		if h := healthCell(m); h != "" {
			row = append(row, safe(h))
		}
		rows = append(rows, row)
	}
	fmt.Fprintln(w, strings.TrimSpace(columns(rows)))
}

// healthCell is "health=maintenance (reason)" for a member whose node
// checks are not passing, "health=passing, 1 of 3 services critical" when
// only instances fail, and "" when all is well.
func healthCell(m api.Member) string {
	h := orPassing(m.Health)
	cell := "health=" + h
	if h == "maintenance" {
		for _, c := range m.Checks {
			if c.Status == "maintenance" && c.Note != "" {
				cell += " (" + c.Note + ")"
				break
			}
		}
	}
	bad := 0
	for _, s := range m.Services {
		if sh := orPassing(s.Health); sh != "passing" && sh != "warning" {
			bad++
		}
	}
	if bad > 0 {
		cell += fmt.Sprintf(", %d of %d services out", bad, len(m.Services))
	} else if h == "passing" {
		return ""
	}
	return cell
}

// checkString lists checks as ID=STATUS, with the note in parentheses.
func checkString(cs []api.CheckStatus) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.ID + "=" + c.Status
		if c.Note != "" {
			parts[i] += "(" + c.Note + ")"
		}
	}
	return strings.Join(parts, " ")
}

// columns aligns rows as Serf's output library does: each cell trimmed,
// every column but a row's last padded to the widest cell of that column
// (counted in runes) and followed by two spaces.
func columns(rows [][]string) string {
	var widths []int
	for _, r := range rows {
		for i, cell := range r {
			n := utf8.RuneCountInString(strings.TrimSpace(cell))
			if i >= len(widths) {
				widths = append(widths, n)
			} else if n > widths[i] {
				widths[i] = n
			}
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, cell := range r {
			cell = strings.TrimSpace(cell)
			b.WriteString(cell)
			if i == len(r)-1 {
				break
			}
			b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell)))
			b.WriteString("  ")
		}
		b.WriteByte('\n')
	}
	return b.String()
}
