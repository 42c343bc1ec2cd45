package smoke

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v2"

	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/internal/testinstance"
)

// root is the module's root directory.
const root = "../.."

var binary string

// TestMain builds the binary as the image does: with tools/build-static.sh.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sse-api-smoke")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "sse-api")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	out, err := exec.CommandContext(ctx, filepath.Join(root, "tools", "build-static.sh"), binary).CombinedOutput()
	cancel()
	code := 1
	if err != nil {
		fmt.Fprintf(os.Stderr, "tools/build-static.sh: %v\n%s", err, out)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// The image's binary runs on a base with no C library and carries no symbols or paths of
// the machine that built it.
func TestBinaryIsStaticAndStripped(t *testing.T) {
	f, err := elf.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("program header %v: the binary is dynamically linked", p.Type)
		}
	}
	for _, name := range []string{".symtab", ".debug_info", ".zdebug_info"} {
		if f.Section(name) != nil {
			t.Errorf("section %s present: not built with -ldflags \"-s -w\"", name)
		}
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(abs+"/")) {
		t.Errorf("the binary holds the build directory %s: not built with -trimpath", abs)
	}
}

// The Dockerfile builds with the script this package builds with, and ships the production config.
func TestDockerfileBuildsWithTheScript(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\s+tools/build-static\.sh /out/sse-api$`),
		regexp.MustCompile(`(?m)^FROM gcr\.io/distroless/static-debian12:nonroot$`),
		regexp.MustCompile(`(?m)^COPY etc/sse-api\.prod\.yaml /etc/sse-api/sse-api\.yaml$`),
		regexp.MustCompile(`(?m)^USER 65532:65532$`),
		regexp.MustCompile(`(?m)^ENTRYPOINT \["/usr/local/bin/sse-api", "-f", "/etc/sse-api/sse-api\.yaml"\]$`),
	} {
		if !want.MatchString(text) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	if n := strings.Count(text, "go build"); n != 0 {
		t.Errorf("Dockerfile runs go build itself (%d times): build with tools/build-static.sh only", n)
	}
}

// prodConfig is etc/sse-api.prod.yaml with its two ports moved to free ones, nothing else.
func prodConfig(t *testing.T) (path string, port, devPort int) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "etc", "sse-api.prod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, p := range []*int{&port, &devPort} {
		if *p, err = testinstance.FreePort(); err != nil {
			t.Fatal(err)
		}
	}
	apiPort := regexp.MustCompile(`(?m)^Port: 8888$`)
	dev := regexp.MustCompile(`(?m)^(DevServer:\n(?:  .*\n)*?)  Port: 6060$`)
	if len(apiPort.FindAllString(text, -1)) != 1 || len(dev.FindAllString(text, -1)) != 1 {
		t.Fatal(`etc/sse-api.prod.yaml no longer has one "Port: 8888" and a DevServer "Port: 6060" to move`)
	}
	text = apiPort.ReplaceAllString(text, fmt.Sprintf("Port: %d", port))
	text = dev.ReplaceAllString(text, fmt.Sprintf("${1}  Port: %d", devPort))
	path = filepath.Join(t.TempDir(), "sse-api.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, port, devPort
}

func randomSecret(t *testing.T) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func TestProductionBuildAndConfig(t *testing.T) {
	path, port, devPort := prodConfig(t)
	secret := randomSecret(t)
	inst, err := testinstance.LaunchFile(binary, path,
		fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", devPort),
		"SSE_ACCESS_SECRET="+secret, "SSE_REDIS_ADDR="+redistest.Addr(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		inst.Kill()
		if t.Failed() {
			t.Logf("logs:\n%s", inst.Logs)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := inst.WaitReady(ctx); err != nil { // includes /healthz: Redis answers
		t.Fatal(err)
	}
	base, dev := "http://"+inst.APIAddr, "http://"+inst.DevAddr

	if status, body := get(t, dev+"/metrics", nil); status != http.StatusOK || !strings.Contains(body, "\nsse_open_streams ") {
		t.Errorf("/metrics: %d, sse_open_streams missing", status)
	}
	// The Deployment's probes, on the ports they name, answer: the process lives and is ready.
	for _, probe := range deploymentProbes(t) {
		url := fmt.Sprintf("http://127.0.0.1:%d%s", map[int]int{8888: port, 6060: devPort}[probe.port], probe.path)
		if status, body := get(t, url, nil); status != http.StatusOK {
			t.Errorf("%s probe %s (container port %d): %d %s", probe.kind, probe.path, probe.port, status, body)
		}
	}
	if status, body := get(t, base+"/openapi.json", nil); status != http.StatusOK || !strings.Contains(body, `"swagger": "2.0"`) {
		t.Errorf("/openapi.json: %d", status)
	}
	// The demo mint is off: an unknown route.
	if status, _ := post(t, base+"/v1/demo/token", "", `{"user":"alice"}`); status != http.StatusNotFound {
		t.Errorf("POST /v1/demo/token: %d, want 404 (Demo off)", status)
	}

	tok, err := auth.NewTokens(secret).Sign(map[string]any{
		auth.ClaimUID: "smoke", auth.ClaimPublish: []string{"smoke:*"}, auth.ClaimSubscribe: []string{"smoke:*"},
	}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	topic := redistest.Name("smoke:")
	publish := func(n int) string {
		t.Helper()
		status, body := post(t, base+"/v1/topics/"+topic+"/events", tok, fmt.Sprintf(`{"event":"n","data":{"n":%d}}`, n))
		var out struct{ ID string }
		if status != http.StatusCreated || json.Unmarshal([]byte(body), &out) != nil || out.ID == "" {
			t.Fatalf("publish %d: %d %s", n, status, body)
		}
		return out.ID
	}

	// Subscribe: the stream tells its position, then carries what is published.
	s := subscribe(t, base+"/v1/events?topic="+topic, tok, "")
	if first := s.next(t); first.id == "" || first.data != "" {
		t.Fatalf("first event %+v, want the position alone", first)
	}
	id1 := publish(1)
	if e := s.next(t); e.id != id1 || e.event != "n" || e.data != `{"n":1}` {
		t.Fatalf("live event %+v, want id %s", e, id1)
	}
	s.close()

	// Resume: what was published while away arrives, after the last id seen only.
	id2, id3 := publish(2), publish(3)
	r := subscribe(t, base+"/v1/events?topic="+topic, tok, id1)
	if e := r.next(t); e.id != id1 || e.data != "" {
		t.Fatalf("resumed stream's position %+v, want %s", e, id1)
	}
	for _, want := range []struct{ id, data string }{{id2, `{"n":2}`}, {id3, `{"n":3}`}} {
		if e := r.next(t); e.id != want.id || e.data != want.data {
			t.Fatalf("resumed event %+v, want %+v", e, want)
		}
	}
	r.close()

	// SIGTERM with no stream left: a clean exit, well before Shutdown.WaitTime.
	inst.Stop(15 * time.Second)
	if code := inst.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}

	logs := inst.Logs.String()
	if strings.Contains(logs, secret) || strings.Contains(logs, tok) {
		t.Error("a credential reached the logs")
	}
	jsonLines := 0
	for _, line := range strings.Split(logs, "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && entry["level"] != nil && entry["@timestamp"] != nil {
			jsonLines++
		}
	}
	if jsonLines == 0 {
		t.Error("no JSON log line (Log.Encoding: json)")
	}
	if !strings.Contains(logs, `open files: limit `) {
		t.Error("the open-file limit is not logged at start")
	}
}

type probe struct {
	kind, path string
	port       int // the container port, resolved from its name
}

// deploymentProbes reads the HTTP probes of deploy/kubernetes/deployment.yaml.
func deploymentProbes(t *testing.T) []probe {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "kubernetes", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	type httpProbe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port any    `yaml:"port"`
		} `yaml:"httpGet"`
	}
	var d struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Ports []struct {
							Name          string `yaml:"name"`
							ContainerPort int    `yaml:"containerPort"`
						} `yaml:"ports"`
						LivenessProbe  httpProbe `yaml:"livenessProbe"`
						ReadinessProbe httpProbe `yaml:"readinessProbe"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(raw, &d); err != nil || len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("deployment.yaml: %v", err)
	}
	c := d.Spec.Template.Spec.Containers[0]
	var out []probe
	for kind, p := range map[string]httpProbe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		pr := probe{kind: kind, path: p.HTTPGet.Path}
		switch port := p.HTTPGet.Port.(type) {
		case int:
			pr.port = port
		case string:
			for _, cp := range c.Ports {
				if cp.Name == port {
					pr.port = cp.ContainerPort
				}
			}
		}
		if pr.path == "" || (pr.port != 8888 && pr.port != 6060) {
			t.Fatalf("%s probe %+v: want an HTTP GET on the API's or the DevServer's port", kind, pr)
		}
		out = append(out, pr)
	}
	return out
}

func get(t *testing.T, url string, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	return do(t, req)
}

func post(t *testing.T, url, bearer, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

type event struct{ id, event, data string }

// stream is an open SSE response whose events a goroutine parses.
type stream struct {
	events chan event
	cancel context.CancelFunc
}

func subscribe(t *testing.T, url, bearer, lastEventID string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("GET %s: %d %s %s", url, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	s := &stream{events: make(chan event, 16), cancel: cancel}
	go func() {
		defer resp.Body.Close()
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var e event
		var fields int
		for sc.Scan() {
			line := sc.Text()
			name, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch {
			case line == "":
				if fields > 0 {
					s.events <- e
				}
				e, fields = event{}, 0
			case name == "id":
				e.id, fields = value, fields+1
			case name == "event":
				e.event, fields = value, fields+1
			case name == "data":
				e.data, fields = e.data+value, fields+1
			}
		}
	}()
	return s
}

// next is the next event with an id or data; it fails after 10 s.
func (s *stream) next(t *testing.T) event {
	t.Helper()
	select {
	case e, ok := <-s.events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
		return event{}
	}
}

func (s *stream) close() { s.cancel() }
