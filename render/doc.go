// Package render keeps load-balancer configuration files current with the
// cluster: it renders templates from the membership view, validates each
// candidate with the load balancer, installs it atomically and reloads.
//
// # Template language
//
// Templates are Go text/template with sprig's hermetic functions (no env,
// no time, no randomness) and missingkey=error. The root value is a *Data,
// built from one node.Snapshot and sorted, so the same cluster always
// renders the same bytes:
//
//	.Self       the local Member
//	.Members    every Member (all statuses), sorted by name
//	.Services   map service name -> alive Instances sorted by node name
//	.Vars       the template's vars from the agent config (trusted)
//
// A Member has Name, Addr, Port, Status ("alive", "leaving", "left",
// "failed"), Tags and Services. An Instance has Service, Node, Address,
// Port, HostPort ("10.0.0.5:8080", "[fd00::5]:8080"), Weight (1..256),
// Tags (the service's) and NodeTags (the member's), and .HasTag.
//
// Functions:
//
//	service "web"        alive instances of web, sorted by node name
//	service "v2.web"     the same, only those whose service carries tag v2
//	services             every service with alive instances, sorted by
//	                     name: ServiceGroup{Name, Port (lowest), Instances}
//	members [STATUS] [FILTER...]
//	                     members sorted by name; STATUS is alive, leaving,
//	                     left, failed or any (default any); each FILTER is
//	                     "key=value" (tag equals), "key" (tag set) or "!key"
//	                     (tag not set), and all must hold:
//	                     members "alive" "role=lb"
//	tag KEY MEMBER|INSTANCE
//	                     a member's tag value or "": {{ .Self | tag "zone" }}
//	listenPort GROUP|NAME
//	                     the port a frontend for the service listens on:
//	                     the local node's tag listen.<svc>, else the var
//	                     listen.<svc>, else var listen_base (default
//	                     20000) + FNV-1a(name) mod 10000; two services on
//	                     one port (or on var stats_port) fail the render
//
// # Backends and the floor guard
//
// A render's backend count is the number of distinct instances the service
// and services functions returned while it ran; reading .Services directly
// does not count. TemplateConfig.MinBackends refuses renders below a floor
// and MaxDropFraction refuses dropping too many at once (compared with the
// last file this runner installed or found equal), so a partitioned node
// keeps its last good file instead of emptying a pool.
//
// # Untrusted values
//
// Node names, tags and services come from other machines. A member with a
// value outside a strict character set (letters, digits, "-", "_", "." and,
// in values, ":", "/", "=", "+"; no whitespace, quotes, braces, ";" or "#")
// is left out of the data entirely, logged once, and listed in the status.
//
// # When a template renders
//
// Every membership change marks each template pending. It renders once no
// change came for Wait.Min, and at most Wait.Max after the first change. A
// change that removes an instance (member failed, left, was reaped, or
// stopped offering a service) renders without waiting for Min. Editing a
// template file, RenderNow and the first render at start are immediate.
package render
