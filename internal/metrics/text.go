package metrics

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// ContentType is the media type of the text format WriteText writes.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// WriteText writes families in the Prometheus text format 0.0.4: each
// family's # HELP and # TYPE lines, then its samples, with no timestamps.
func WriteText(w io.Writer, families []*Family) error {
	bw := bufio.NewWriter(w)
	var num []byte
	for _, f := range families {
		bw.WriteString("# HELP ")
		bw.WriteString(f.Name)
		bw.WriteByte(' ')
		writeEscaped(bw, f.Help, false)
		bw.WriteString("\n# TYPE ")
		bw.WriteString(f.Name)
		bw.WriteByte(' ')
		bw.WriteString(f.Kind.String())
		bw.WriteByte('\n')
		for _, m := range f.Metrics {
			if f.Kind != SummaryKind {
				num = writeSample(bw, num, f.Name, "", m.Labels, nil, m.Value)
				continue
			}
			for _, q := range m.Quantiles {
				num = writeSample(bw, num, f.Name, "", m.Labels, &q, q.V)
			}
			num = writeSample(bw, num, f.Name, "_sum", m.Labels, nil, m.Sum)
			num = writeSample(bw, num, f.Name, "_count", m.Labels, nil, float64(m.Count))
		}
	}
	return bw.Flush()
}

// writeSample writes one line: name+suffix, the labels (and a summary's
// quantile label last), the value. num is a reused number buffer.
func writeSample(w *bufio.Writer, num []byte, name, suffix string, labels []Label, q *Quantile, v float64) []byte {
	w.WriteString(name)
	w.WriteString(suffix)
	if len(labels) > 0 || q != nil {
		w.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(l.Name)
			w.WriteString(`="`)
			writeEscaped(w, l.Value, true)
			w.WriteByte('"')
		}
		if q != nil {
			if len(labels) > 0 {
				w.WriteByte(',')
			}
			w.WriteString(`quantile="`)
			num = appendFloat(num[:0], q.Q)
			w.Write(num)
			w.WriteByte('"')
		}
		w.WriteByte('}')
	}
	w.WriteByte(' ')
	num = appendFloat(num[:0], v)
	w.Write(num)
	w.WriteByte('\n')
	return num
}

// writeEscaped writes s with the format's escapes: backslash and line
// feed always, double quote in a label value (not in HELP). A function
// rather than a strings.Replacer, which every process would build at init.
func writeEscaped(w io.StringWriter, s string, label bool) {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch c := s[i]; {
		case c == '\\':
			esc = `\\`
		case c == '\n':
			esc = `\n`
		case c == '"' && label:
			esc = `\"`
		default:
			continue
		}
		w.WriteString(s[start:i])
		w.WriteString(esc)
		start = i + 1
	}
	w.WriteString(s[start:])
}

// appendFloat formats v as the Prometheus client does: +Inf, -Inf, NaN,
// and otherwise the shortest representation that reads back exactly
// ('g': 220, 0.25, 1.502624e+06).
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case v == 0:
		return append(b, '0') // and -0
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

func formatLabels(labels []Label) string {
	if len(labels) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range labels {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.Name + `="`)
		writeEscaped(&b, l.Value, true)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// Handler serves the registry's metrics in the text format, gzipped for a
// scraper that accepts it (Prometheus does). A scrape whose collectors
// disagree fails with 500 and a warning in log, as it did with the
// Prometheus client.
func (r *Registry) Handler(log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		families, err := r.Gather()
		if err != nil {
			log.Warn("metrics scrape failed", "err", err)
			http.Error(w, "An error has occurred while serving metrics:\n\n"+err.Error(), http.StatusInternalServerError)
			return
		}
		var buf bytes.Buffer
		out := io.Writer(&buf)
		var zw *gzip.Writer
		if acceptsGzip(req.Header.Get("Accept-Encoding")) {
			zw = gzip.NewWriter(&buf)
			out = zw
			w.Header().Set("Content-Encoding", "gzip")
		}
		// Writes to a buffer fail only if gzip does, which it does not
		// on a bytes.Buffer.
		_ = WriteText(out, families)
		if zw != nil {
			_ = zw.Close()
		}
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		if _, err := buf.WriteTo(w); err != nil {
			log.Debug("metrics: writing the response", "err", err)
		}
	})
}

// acceptsGzip reports whether an Accept-Encoding header takes gzip
// (a q of 0 refuses it).
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		enc, params, _ := strings.Cut(part, ";")
		if strings.TrimSpace(enc) != "gzip" {
			continue
		}
		q := strings.ReplaceAll(params, " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
