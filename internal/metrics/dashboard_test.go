package metrics

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	zeroprometheus "github.com/zeromicro/go-zero/core/prometheus"
	"github.com/zeromicro/go-zero/rest/handler"
)

const dashboardFile = "../../deploy/grafana/sse-api.json"

// registered are the series names /metrics can show: the service's collectors (described,
// so that label sets not seen yet count), and what the default registry gathers once
// go-zero's request metrics have seen a request (go-zero's, the Go runtime's, the process's).
func registered(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, c := range all {
		histogram := false
		switch c.(type) {
		case prometheus.Histogram, *prometheus.HistogramVec:
			histogram = true
		}
		ch := make(chan *prometheus.Desc, 16)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("no name in %s", d)
			}
			addSeries(names, m[1], histogram)
		}
	}

	zeroprometheus.Enable()
	h := handler.PrometheusHandler("/v1/x", http.MethodGet)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/x", nil))
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		addSeries(names, f.GetName(), f.GetType().String() == "HISTOGRAM")
	}
	for _, want := range []string{"http_server_requests_code_total", "process_open_fds", "sse_open_streams", "sse_redis_up", "sse_delivery_lag_seconds_bucket"} {
		if !names[want] {
			t.Fatalf("%s is not among the registered names: the lookup is broken", want)
		}
	}
	return names
}

func addSeries(names map[string]bool, name string, histogram bool) {
	if !histogram {
		names[name] = true
		return
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		names[name+suffix] = true
	}
}

var (
	promString  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promBraces  = regexp.MustCompile(`\{[^{}]*\}|\[[^\[\]]*\]`)
	promGroups  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promIdent   = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?`)
	promKeyword = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless", "inf", "nan"}
)

// metricNames returns the metric names a PromQL expression reads: its identifiers, once
// strings, label matchers, ranges and grouping labels are taken out, that are neither
// function calls nor keywords.
func metricNames(expr string) []string {
	expr = promString.ReplaceAllString(expr, `""`)
	for prev := ""; prev != expr; {
		prev, expr = expr, promBraces.ReplaceAllString(expr, " ")
	}
	expr = promGroups.ReplaceAllString(expr, " ")
	var names []string
	for _, m := range promIdent.FindAllStringSubmatchIndex(expr, -1) {
		call := m[3] > m[2]
		name := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(expr[m[0]:m[1]]), "("))
		// A unit after a number (5m, 1e3) is no name.
		afterNumber := m[0] > 0 && strings.ContainsRune("0123456789.", rune(expr[m[0]-1]))
		if call || afterNumber || slices.Contains(promKeyword, strings.ToLower(name)) {
			continue
		}
		names = append(names, name)
	}
	return names
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`sse_open_streams{instance=~"$instance"}`: {"sse_open_streams"},
		`histogram_quantile(0.99, sum by (le) (rate(sse_delivery_lag_seconds_bucket{a="b{c}"}[$__rate_interval])))`: {"sse_delivery_lag_seconds_bucket"},
		`process_resident_memory_bytes / clamp_min(sse_open_streams{x!~".*/events"}, 1) offset 5m`:                  {"process_resident_memory_bytes", "sse_open_streams"},
		`sum without (pod) (a) and on (instance) b`:                                                                 {"a", "b"},
		`label_values(sse_open_streams, instance)`:                                                                  {"sse_open_streams", "instance"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%s) = %v, want %v", expr, got, want)
		}
	}
}

type dashboard struct {
	Panels []struct {
		ID      int    `json:"id"`
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// Every metric the dashboard queries is one the service serves, and it shows what an
// operator needs to look at.
func TestDashboardQueriesServedMetrics(t *testing.T) {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	names := registered(t)
	used := map[string]bool{}
	check := func(where, expr string, labelValues bool) {
		got := metricNames(expr)
		if labelValues { // label_values(metric, label): the label is not a metric
			got = got[:min(len(got), 1)]
		}
		if len(got) == 0 {
			t.Errorf("%s: no metric in %q", where, expr)
		}
		for _, n := range got {
			used[n] = true
			if !names[n] {
				t.Errorf("%s: %s is not a metric the service registers", where, n)
			}
		}
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			check("panel "+p.Title, target.Expr, false)
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			check("variable "+v.Name, q["query"].(string), true)
		}
	}
	for _, want := range []string{
		"sse_open_streams", "sse_events_delivered_total", "sse_delivery_lag_seconds_bucket",
		"sse_slow_consumer_disconnects_total", "sse_stream_refusals_total", "sse_streams_ended_total", "sse_pubsub_recoveries_total",
		"sse_pubsub_recovery_failures_total", "sse_redis_up", "sse_redis_pool_connections", "process_open_fds",
		"sse_keywatch_link_up", "sse_keywatch_events_total", "sse_keywatch_errors_total",
	} {
		if !used[want] {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
}
