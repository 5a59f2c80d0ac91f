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
//	.Services   map service name -> Instances of alive and suspect members,
//	            sorted by node name
//	.Vars       the template's vars from the agent config (trusted)
//
// A Member has Name, Addr, Port, Status ("alive", "suspect", "leaving",
// "left", "failed"), Tags and Services. An Instance has Service, Node,
// Address, Port, HostPort ("10.0.0.5:8080", "[fd00::5]:8080"), Weight
// (1..256), Status ("alive" or "suspect"), Drain, Tags (the service's) and
// NodeTags (the member's), and .HasTag.
//
// Suspect members (memberlist could not reach them; they fail within
// seconds unless they refute) stay in the data, marked. Drain is true for
// an instance of a suspect member when the template drains suspects
// (TemplateConfig.ServeSuspects false, drain_on_suspect = true, the
// default) and another instance of the service is not suspect: the load
// balancer should send it no new connections but let its sessions finish.
// The built-in HAProxy template writes weight 0, which the runtime path
// applies without a reload; nginx has no equivalent short of a reload, so
// the built-in nginx template ignores it.
//
// Functions:
//
//	service "web"        instances of web on alive and suspect members,
//	                     sorted by node name
//	service "v2.web"     the same, only those whose service carries tag v2
//	services             every service with such instances, sorted by
//	                     name: ServiceGroup{Name, Port (lowest), Instances}
//	members [STATUS] [FILTER...]
//	                     members sorted by name; STATUS is alive, suspect,
//	                     leaving, left, failed or any (default any); each FILTER is
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
// For tags this holds per template and only for the tags it reads
// (reads.go): an unsafe tag a template never reads is removed from that
// template's data and the member stays, so owner="team a" does not take a
// node out of a load balancer whose template ignores owner.
//
// # Installing and reloading
//
// Each backend bounds its own calls with its configured timeout; the
// runner adds none. A candidate that validates is installed atomically
// (internal/atomicfile) and the backend reloaded once per batch. When the
// reload fails the file is installed but not live: the status says
// StateReloadFailed, the log says the load balancer still runs the
// previous config, and the reload is retried with backoff (ReloadRetryMin
// doubling to ReloadRetryMax) until it takes. RenderWait forces a render
// and returns when the runner's loop has done it.
//
// # Who owns what
//
// render owns a template's settings (CheckTemplate; the agent's config
// calls it), the data model, the injection and floor guards, and when to
// render. backends owns the load balancer's options and commands.
// internal/debounce owns the min/max wait, internal/atomicfile the atomic
// write; render uses both and keeps no copy.
//
// # When a template renders
//
// Every membership change marks each template pending. It renders once no
// change came for Wait.Min, and at most Wait.Max after the first change. A
// change that removes an instance (member failed, left, was reaped, or
// stopped offering a service), or whose member becomes suspect or stops
// being suspect, renders without waiting for Min. Editing a
// template file, RenderNow and the first render at start are immediate.
package render
