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
//	.Services   map service name -> routable Instances (health passing or
//	            warning) of alive and suspect members, sorted by node
//	            name, then ID
//	.Vars       the template's vars from the agent config (trusted)
//
// A Member has Name, Addr, Port, Status ("alive", "suspect", "leaving",
// "left", "failed"), Health and Checks (its node-level checks), Tags and
// Services (every instance, whatever its health). An Instance has
// Service, ID (unique on its member; the service name unless the member
// runs several instances), Node, Address (its own, else its member's),
// Port, HostPort ("10.0.0.5:8080", "[fd00::5]:8080"), ServerName (unique
// among a service's instances: "web1", "web1:web-2"), Weight (1..256),
// Status (its health: "passing", "warning", "critical", "maintenance"),
// NodeStatus ("alive" or "suspect"), Drain, Tags (the service's), Meta,
// Checks (the member's node checks, then its own: ID, Name, Status, Note)
// and NodeTags (the member's), and .HasTag.
//
// Health is the worst of the instance's checks, its member's node-level
// checks and maintenance (shoal maint). Passing and warning instances are
// routable: the service and services functions and .Services give only
// those unless a template asks for others, so a load balancer rendered
// from them stops routing to an instance whose check fails at the next
// render.
//
// Suspect members (memberlist could not reach them; they fail within
// seconds unless they refute) stay in the data, marked. Drain is true for
// an instance of a suspect member when the template drains suspects
// (TemplateConfig.ServeSuspects false, drain_on_suspect = true, the
// default) and a routable instance of the service on an alive member
// serves: the load balancer should send it no new connections but let
// its sessions finish. The built-in HAProxy template writes weight 0,
// which the runtime path applies without a reload; nginx has no
// equivalent short of a reload, so the built-in nginx template ignores it.
//
// Functions:
//
//	service "web"        the routable instances of web on alive and
//	                     suspect members, sorted by node name, then ID
//	service "v2.web"     the same, only those whose service carries tag v2
//	service "web|any"    every instance of web, whatever its health; after
//	                     "|" (as in consul-template) a comma list selects
//	                     by health: "web|passing", "web|critical,maintenance"
//	services [FILTER]    every service with such instances, sorted by
//	                     name: ServiceGroup{Name, Port (lowest), Instances};
//	                     FILTER as after "|": services "any"
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
// Node names, tags and services (names, ids, tags, meta) come from other
// machines. A member with a value outside a strict character set (letters,
// digits, "-", "_", "." and, in values, ":", "/", "=", "+"; no whitespace,
// quotes, braces, ";" or "#") is left out of the data entirely, logged
// once, and listed in the status. Check ids, names and notes are free
// text ("HTTP 503"): every character outside that set becomes "_"
// ("HTTP_503") rather than taking the member out.
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
// A backend that applies changes at runtime (backends.RuntimeApplier) gets
// ApplyHints with each batch, from the snapshot rendered: the instances of
// failed members and the instances whose health (or node) is critical. A
// server the new file drops at one of those addresses is shut at once (no
// new connections, sessions cut); any other drains up to drain_timeout:
// its member left, or it went into maintenance, a planned stop.
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
