package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sseapi/sse-api/internal/auth"
	"github.com/sseapi/sse-api/internal/redistest"
	"github.com/sseapi/sse-api/internal/testinstance"
)

// newRoute is what a go-zero team adds to sse.api for a stream of its own.
const newRoute = `
type OrderEventsReq {
	Id string ` + "`path:\"id\"`" + `
}

@server (
	prefix:  /v1
	sse:     true
	timeout: 0s
	group:   orders
)
service sse-api {
	@handler OrderEvents
	get /orders/:id/events (OrderEventsReq) returns (Event)
}
`

// A route added only through sse.api, with the logic goctl scaffolds for it and nothing
// else, is a complete stream: it streams, resumes, obeys the limits, is detached, and ends
// at the credential's expiry and at shutdown.
func TestARouteAddedThroughSseApiIsACompleteStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tree := scaffoldTree(t, ctx)
	bin := filepath.Join(t.TempDir(), "sse-api")
	args := []string{"build", "-o", bin}
	if raceBuild {
		args = append(args, "-race")
	}
	run(t, ctx, tree, "go", append(args, ".")...)

	s := withDefaults(t, settings{MaxStreamsPerUser: 1})
	inst, err := testinstance.Start(ctx, bin, t.TempDir(), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inst.Kill)
	base := "http://" + inst.APIAddr
	url := base + "/v1/orders/42/events"

	uid := redistest.Name("ola")
	tok, err := auth.NewTokens(secret).Sign(map[string]any{
		auth.ClaimUID: uid, auth.ClaimPublish: []string{"user:*"},
	}, time.Now().Add(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	expectError(t, get(t, url, nil), 401, "unauthorized")
	st := mustOpen(t, url, bearer(tok))
	if st.Resp.TransferEncoding != nil || !st.Resp.Close {
		t.Fatal("the scaffolded stream was not detached")
	}
	st.waitPosition(t)
	expectError(t, get(t, url, bearer(tok)), 429, "rate_limited")
	publishEvent(t, base, tok, "user:"+uid, "one")
	if ev := st.next(t); ev.Data != `"one"` {
		t.Fatalf("event %+v", ev)
	}
	last := st.LastID()
	st.Close()
	publishEvent(t, base, tok, "user:"+uid, "two")
	// The server notices the first stream's client leaving a moment after it left.
	var resumed *stream
	for deadline := time.Now().Add(10 * time.Second); ; {
		resumed = open(t, url, http.Header{"Authorization": {"Bearer " + tok}, "Last-Event-Id": {last}})
		if resumed.Resp.StatusCode != http.StatusTooManyRequests || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ev := resumed.next(t); ev.Data != `"two"` {
		t.Fatalf("resumed event %+v", ev)
	}
	resumed.waitEnded(t) // the 3 s token expires

	long, _ := auth.NewTokens(secret).Sign(map[string]any{auth.ClaimUID: uid}, time.Now().Add(time.Hour))
	last2 := mustOpen(t, url, bearer(long))
	last2.waitPosition(t)
	if err := inst.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	last2.waitEnded(t)
}

// scaffoldTree copies the module to a scratch directory, adds newRoute to its sse.api and
// runs `make gen` there: goctl writes the handler and scaffolds the logic.
func scaffoldTree(t *testing.T, ctx context.Context) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(here), "..", "..")
	files := run(t, ctx, root, "git", "ls-files", "--cached", "--others", "--exclude-standard")
	tree := t.TempDir()
	for _, f := range strings.Split(strings.TrimSpace(files), "\n") {
		data, err := os.ReadFile(filepath.Join(root, f))
		if os.IsNotExist(err) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(tree, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	api, err := os.OpenFile(filepath.Join(tree, "sse.api"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.WriteString(newRoute); err != nil {
		t.Fatal(err)
	}
	api.Close()
	out := run(t, ctx, tree, "tools/gen.sh")
	if !strings.Contains(out, "scaffolded internal/logic/orders/ordereventslogic.go") {
		t.Fatalf("make gen did not scaffold the logic:\n%s", out)
	}
	return tree
}

func run(t *testing.T, ctx context.Context, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
