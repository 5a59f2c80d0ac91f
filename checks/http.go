package checks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/shoal-dev/shoal/node"
)

// maxRedirects bounds how far an http check follows redirects.
const maxRedirects = 3

// httpProber runs one http check. It owns its transport, with keep-alives
// off: a check that runs every few seconds gains nothing from an idle
// connection, and the body is abandoned unread past MaxOutput.
type httpProber struct {
	def    Definition
	client *http.Client
}

func newHTTPProber(d Definition) *httpProber {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	return &httpProber{def: d, client: &http.Client{
		Transport: tr,
		Timeout:   d.EffectiveTimeout(),
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return nil
		},
	}}
}

func (p *httpProber) probe(ctx context.Context) probe {
	method := p.def.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, p.def.HTTP, nil)
	if err != nil {
		return probe{status: node.HealthCritical, note: err.Error(), output: err.Error()}
	}
	req.Header.Set("User-Agent", "shoal-health-check")
	req.Header.Set("Accept", "text/plain, text/*, */*")
	for k, vs := range p.def.Header {
		if strings.EqualFold(k, "Host") && len(vs) > 0 {
			req.Host = vs[0]
			continue
		}
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	resp, err := p.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			note := fmt.Sprintf("timed out after %s", p.def.EffectiveTimeout())
			return probe{status: node.HealthCritical, note: note, output: fmt.Sprintf("%s %s: %v", method, p.def.HTTP, err)}
		}
		return probe{status: node.HealthCritical, note: err.Error(), output: err.Error()}
	}
	// Read at most MaxOutput bytes (and one more, to know it was cut),
	// then close: an endless body is abandoned, not drained.
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, MaxOutput+1))
	resp.Body.Close()
	cut := len(body) > MaxOutput
	body = body[:min(len(body), MaxOutput)]
	out := fmt.Sprintf("HTTP %s %s: %s", method, p.def.HTTP, resp.Status)
	if len(body) > 0 {
		out += "\n" + truncated(body, cut)
	}
	if readErr != nil {
		out += fmt.Sprintf("\n(reading the body: %v)", readErr)
	}
	return probe{status: httpStatus(resp.StatusCode), note: "HTTP " + resp.Status, output: out}
}

// httpStatus is Consul's mapping: 2xx passing, 429 (Too Many Requests)
// warning, anything else critical.
func httpStatus(code int) node.Health {
	switch {
	case code >= 200 && code <= 299:
		return node.HealthPassing
	case code == http.StatusTooManyRequests:
		return node.HealthWarning
	default:
		return node.HealthCritical
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
