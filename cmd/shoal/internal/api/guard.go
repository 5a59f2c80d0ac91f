package api

import (
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// The API obeys only its operator. A web page open in the operator's
// browser can send requests to it (the browser lets a page POST anywhere,
// and DNS rebinding makes a page's own name resolve to 127.0.0.1), so
// every request but /v1/health passes these checks before anything else:
//
//   - Host must be an IP literal, localhost, or a name in
//     http_allowed_hosts: a rebinding page's requests carry the page's
//     own name (421 Misdirected Request).
//   - A browser's cross-origin request is refused: an Origin header that
//     is not the API itself, or Sec-Fetch-Site other than same-origin or
//     none (403). No CORS header is ever sent, so no preflight passes.
//   - The token, when set, compared in constant time (403).
//   - A request that changes state (any method but GET and HEAD) must say
//     Content-Type: application/json (415); a browser sends that type
//     cross-origin only after a CORS preflight, which never passes.
//
// /v1/health is exempt from the first three so that load balancers and
// probes need no secret and may use any name; it only tells that the agent
// is up and how many members are alive. The content-type rule applies to
// every path.

// healthPath is the open endpoint.
const healthPath = "/v1/health"

// checkHost applies the DNS-rebinding rule to a request's Host.
func (s *Server) checkHost(hostport string) error {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" || host == "localhost" || s.allowedHosts[host] {
		return nil // "": HTTP/1.0 without Host, which no browser sends
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	return fmt.Errorf("the Host header %q is not an IP address, localhost or a name listed in http_allowed_hosts; "+
		"refused as a DNS-rebinding defence (add the name to http_allowed_hosts in the agent's config to reach the API by it)", hostport)
}

// checkBrowser refuses requests a browser sends on behalf of another site.
func checkBrowser(r *http.Request) error {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none": // none: the operator typed the URL
	default:
		return fmt.Errorf("refused a request a browser sent from another site (Sec-Fetch-Site: %s): the API obeys only its operator", site)
	}
	for _, o := range r.Header.Values("Origin") {
		if !sameOrigin(o, r) {
			return fmt.Errorf("refused a cross-origin request from Origin %q: the API answers only requests from itself and sends no CORS headers", o)
		}
	}
	return nil
}

// sameOrigin reports whether origin is the API as the request reached it:
// scheme, host and port equal, the default port implied.
func sameOrigin(origin string, r *http.Request) bool {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != scheme || u.Opaque != "" || u.User != nil || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return false // also "null", which sandboxed and file pages send
	}
	return strings.EqualFold(withPort(u.Host, scheme), withPort(r.Host, scheme))
}

func withPort(hostport, scheme string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	port := "80"
	if scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(strings.Trim(hostport, "[]"), port)
}

// changesState: every method but GET and HEAD may change something.
func changesState(method string) bool {
	return method != http.MethodGet && method != http.MethodHead
}

// checkJSON requires one Content-Type header naming application/json;
// parameters such as charset may follow.
func checkJSON(r *http.Request) error {
	cts := r.Header.Values("Content-Type")
	if len(cts) == 1 {
		if mt, _, err := mime.ParseMediaType(cts[0]); err == nil && mt == "application/json" {
			return nil
		}
	}
	return fmt.Errorf("%s %s needs the header \"Content-Type: application/json\" (got %q): requests that change state must be JSON",
		r.Method, r.URL.Path, strings.Join(cts, ", "))
}
