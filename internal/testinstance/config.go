package testinstance

import (
	_ "embed"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// Template is the instance config, instance.yaml. browsertest/harness.mjs reads the same
// file and renders it by the same rule:
//
//   - {{Name}} is replaced by the value given for Name, which must be given;
//   - {{Name=default}} by the value given, or else by default (up to the closing braces);
//   - values go in as they are, so the template quotes what needs quoting;
//   - a value may span lines only where its placeholder is a line of its own (Extra);
//   - a value given for a name the template does not have is an error.
//
//go:embed instance.yaml
var Template string

var placeholder = regexp.MustCompile(`\{\{(\w+)(=[^}\n]*)?\}\}`)

// Render fills in tmpl (Template, in all but tests) with values.
func Render(tmpl string, values map[string]string) (string, error) {
	unused := make(map[string]bool, len(values))
	for name := range values {
		unused[name] = true
	}
	var out strings.Builder
	last := 0
	for _, m := range placeholder.FindAllStringSubmatchIndex(tmpl, -1) {
		name := tmpl[m[2]:m[3]]
		v, given := values[name]
		switch {
		case given:
			delete(unused, name)
		case m[4] >= 0:
			v = tmpl[m[4]+1 : m[5]]
		default:
			return "", fmt.Errorf("config template: no value for %s", name)
		}
		alone := (m[0] == 0 || tmpl[m[0]-1] == '\n') && (m[1] == len(tmpl) || tmpl[m[1]] == '\n')
		if strings.ContainsAny(v, "\r\n") && !alone {
			return "", fmt.Errorf("config template: the value of %s spans lines: %q", name, v)
		}
		out.WriteString(tmpl[last:m[0]])
		out.WriteString(v)
		last = m[1]
	}
	out.WriteString(tmpl[last:])
	if len(unused) > 0 {
		return "", fmt.Errorf("config template: no placeholder %s", strings.Join(slices.Sorted(maps.Keys(unused)), ", "))
	}
	return out.String(), nil
}

// Config is what the e2e tests and the load tool set in Template: each field fills the
// placeholder of its name, and a zero field leaves the template's default (the service's
// own, mostly). Durations are strings as YAML has them ("100ms").
type Config struct {
	Name string
	// Port and DevPort are the API and DevServer ports; zero: Launch picks free ones.
	Port, DevPort int
	Secret        string // Auth.AccessSecret
	Timeout       int    // ms
	MaxConns      int
	Verbose       bool
	LogLevel      string
	ShutdownWait  string
	// RedisAddr is a standalone Redis, RedisAddrs Cluster nodes ("host:port, host:port").
	// With both empty the instance runs the embedded development Redis; Embedded says so on
	// purpose, for callers that otherwise fill RedisAddr in (the e2e tests).
	RedisAddr, RedisAddrs string
	Embedded              bool `template:"-"`
	TicketTTL             string
	ResumeTTL             string
	ResumeCookiePath      string
	Heartbeat             string
	Retry                 string
	MaxPayload            int
	MaxBatch              int
	HistorySize           int
	MaxHistoryPage        int
	QueueSize             int
	PublicTopics          string // a YAML flow list: ["public:*"]
	MaxStreams            int
	MaxStreamsPerUser     int
	MaxTopicsPerStream    int
	AnonymousPerMinute    int
	QRTTL                 string
	QRConfirmWindow       string
	QRRetention           string
	QRContent             string
	QRBasePath            string
	QRCreatePerMinute     int
	QRMissesPerMinute     int
	QRScansPerMinute      int
	QRAutoExchange        bool
	QRExpirySweep         string
	Extra                 string // YAML appended as it is, for keys the template lacks
}

// Values are c's non-zero fields by name, as Render takes them.
func (c Config) Values() map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(c)
	for _, f := range reflect.VisibleFields(v.Type()) {
		if fv := v.FieldByIndex(f.Index); f.Tag.Get("template") != "-" && !fv.IsZero() {
			out[f.Name] = fmt.Sprint(fv.Interface())
		}
	}
	return out
}

// Render is Template filled in with c.
func (c Config) Render() (string, error) {
	if c.Embedded && (c.RedisAddr != "" || c.RedisAddrs != "") {
		return "", fmt.Errorf("config: Embedded with RedisAddr %q, RedisAddrs %q", c.RedisAddr, c.RedisAddrs)
	}
	return Render(Template, c.Values())
}
