package deploycheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

const (
	root      = "../.."
	manifests = root + "/deploy/kubernetes"
	prodFile  = root + "/etc/sse-api.prod.yaml"

	// The DevServer's probe paths (internal/devserver LivePath, ReadyPath): /livez (the
	// process is alive) and /readyz (Redis reachable, pub/sub link up, not shutting down).
	// internal/smoke also calls the Deployment's probes on the production binary.
	livenessPath  = "/livez"
	readinessPath = "/readyz"
	// graceMargin is what terminationGracePeriodSeconds keeps past preStop and WaitTime.
	graceMargin = 5 * time.Second
)

// prod is what the checks need of etc/sse-api.prod.yaml.
type prod struct {
	Port      int
	DevServer struct {
		Host string
		Port int
	}
	Shutdown struct{ WaitTime string }
	Stream   struct{ DrainWindow string }
	text     string
}

func loadProd(t *testing.T) prod {
	t.Helper()
	raw, err := os.ReadFile(prodFile)
	if err != nil {
		t.Fatal(err)
	}
	var p prod
	if err := yaml.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	p.text = string(raw)
	return p
}

func duration(t *testing.T, key, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s %q: %v", key, s, err)
	}
	return d
}

// objects decodes every manifest strictly (unknown fields fail) into its kind's API type.
func objects(t *testing.T) map[string]any {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(manifests, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	out := map[string]any{}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range regexp.MustCompile(`(?m)^---$`).Split(string(raw), -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var meta metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			var obj any
			switch meta.Kind {
			case "Deployment":
				obj = &appsv1.Deployment{}
			case "Service":
				obj = &corev1.Service{}
			case "ConfigMap":
				obj = &corev1.ConfigMap{}
			case "PodDisruptionBudget":
				obj = &policyv1.PodDisruptionBudget{}
			case "Ingress":
				obj = &networkingv1.Ingress{}
			case "Kustomization":
				obj = &kustomization{}
			default:
				t.Fatalf("%s: kind %q has no check", file, meta.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s (%s): %v", file, meta.Kind, err)
			}
			if _, dup := out[meta.Kind]; dup {
				t.Fatalf("two %s manifests", meta.Kind)
			}
			out[meta.Kind] = obj
			if k, ok := obj.(*kustomization); ok {
				k.file = file
			}
		}
	}
	return out
}

type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels"`
	Resources []string `json:"resources"`
	file      string
}

func get[T any](t *testing.T, objs map[string]any, kind string) T {
	t.Helper()
	obj, ok := objs[kind].(T)
	if !ok {
		t.Fatalf("no %s manifest", kind)
	}
	return obj
}

// containerPort resolves a probe's or Service's port (a number or a name) in c.
func containerPort(c corev1.Container, port intstr.IntOrString) int {
	if port.Type == intstr.Int {
		return port.IntValue()
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return int(p.ContainerPort)
		}
	}
	return -1
}

func TestManifests(t *testing.T) {
	p := loadProd(t)
	objs := objects(t)
	dep := get[*appsv1.Deployment](t, objs, "Deployment")
	svc := get[*corev1.Service](t, objs, "Service")
	cm := get[*corev1.ConfigMap](t, objs, "ConfigMap")
	pdb := get[*policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget")
	ing := get[*networkingv1.Ingress](t, objs, "Ingress")
	kust := get[*kustomization](t, objs, "Kustomization")

	// Every manifest is applied.
	files, _ := filepath.Glob(filepath.Join(manifests, "*.yaml"))
	for _, f := range files {
		if name := filepath.Base(f); f != kust.file && !slices.Contains(kust.Resources, name) {
			t.Errorf("kustomization.yaml does not list %s", name)
		}
	}

	// The ConfigMap holds the production config as it is.
	if got := cm.Data["sse-api.yaml"]; got != p.text {
		t.Errorf("the ConfigMap's sse-api.yaml differs from etc/sse-api.prod.yaml: run make gen")
	}

	spec := dep.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]

	// Ports: the API's and the DevServer's, as the config has them.
	if got := containerPort(c, intstr.FromString("http")); got != p.Port {
		t.Errorf("container port http = %d, config Port %d", got, p.Port)
	}
	if p.DevServer.Host != "0.0.0.0" {
		t.Errorf("DevServer.Host %q: the kubelet's probes come from outside the pod", p.DevServer.Host)
	}
	for _, probe := range []struct {
		name string
		p    *corev1.Probe
		path string
	}{{"liveness", c.LivenessProbe, livenessPath}, {"readiness", c.ReadinessProbe, readinessPath}} {
		switch {
		case probe.p == nil || probe.p.HTTPGet == nil:
			t.Errorf("%s probe: not an HTTP GET", probe.name)
		case probe.p.HTTPGet.Path != probe.path:
			t.Errorf("%s probe path %q, the service serves %s", probe.name, probe.p.HTTPGet.Path, probe.path)
		case containerPort(c, probe.p.HTTPGet.Port) != p.DevServer.Port:
			t.Errorf("%s probe port %v, the DevServer's is %d", probe.name, probe.p.HTTPGet.Port.String(), p.DevServer.Port)
		}
	}
	if got := spec.Containers[0].Ports; len(got) != 2 {
		t.Errorf("container ports %v: want the API's and the DevServer's", got)
	}
	if a := dep.Spec.Template.Annotations; a["prometheus.io/port"] != fmt.Sprint(p.DevServer.Port) || a["prometheus.io/path"] != "/metrics" {
		t.Errorf("scrape annotations %v: want the DevServer's port and /metrics", a)
	}

	// The grace period covers the preStop sleep, the drain and go-zero's wait.
	wait := duration(t, "Shutdown.WaitTime", p.Shutdown.WaitTime)
	drain := duration(t, "Stream.DrainWindow", p.Stream.DrainWindow)
	if drain+time.Second >= wait {
		t.Errorf("DrainWindow %v + 1s >= WaitTime %v", drain, wait)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds < 1 {
		t.Fatal("no preStop sleep: the pod would get SIGTERM while still in the Service's endpoints")
	}
	preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	if spec.TerminationGracePeriodSeconds == nil {
		t.Fatal("no terminationGracePeriodSeconds")
	}
	if grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second; grace < preStop+wait+graceMargin {
		t.Errorf("terminationGracePeriodSeconds %v < preStop %v + WaitTime %v + %v", grace, preStop, wait, graceMargin)
	}

	// Every ${VAR} of the config is set, the secret from a Secret.
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for _, m := range regexp.MustCompile(`\$\{(\w+)\}`).FindAllStringSubmatch(stripComments(p.text), -1) {
		if _, ok := env[m[1]]; !ok {
			t.Errorf("the config reads ${%s}, the container does not set it", m[1])
		}
	}
	if e := env["SSE_ACCESS_SECRET"]; e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.Value != "" {
		t.Error("SSE_ACCESS_SECRET does not come from a Secret")
	}
	if e := env["SSE_REDIS_ADDR"]; e.Value == "" && e.ValueFrom == nil {
		t.Error("SSE_REDIS_ADDR is empty: the service would run an embedded, unshared Redis")
	}

	// The ConfigMap is mounted where the image's entrypoint reads its config.
	configPath := entrypointConfig(t)
	mounted := false
	for _, m := range c.VolumeMounts {
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil || v.ConfigMap.Name != cm.Name {
				continue
			}
			for _, item := range v.ConfigMap.Items {
				if item.Key == "sse-api.yaml" && m.MountPath+"/"+item.Path == configPath {
					mounted = true
				}
			}
		}
	}
	if !mounted || len(c.Command) > 0 || len(c.Args) > 0 {
		t.Errorf("the ConfigMap is not mounted at %s, which the image's entrypoint reads (command %v, args %v)", configPath, c.Command, c.Args)
	}

	// Security: non-root (the image's user), read-only, no privilege, no capability.
	sc, psc := c.SecurityContext, spec.SecurityContext
	switch {
	case sc == nil || psc == nil:
		t.Fatal("no securityContext")
	case psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		t.Error("runAsNonRoot is not set")
	case psc.RunAsUser == nil || fmt.Sprint(*psc.RunAsUser) != imageUser(t):
		t.Errorf("runAsUser is not the image's user %s", imageUser(t))
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("readOnlyRootFilesystem is not set")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation is not false")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Error("capabilities: want drop [ALL], nothing added")
	}

	// Resources: requests and limits of CPU and memory.
	for _, list := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
		if list.Cpu().IsZero() || list.Memory().IsZero() {
			t.Errorf("resources %v: want CPU and memory in requests and limits", c.Resources)
		}
	}

	// The Service sends its traffic to the API port, and does not expose the DevServer; the
	// Service, the PDB and the Deployment select the same pods; the Ingress goes to the Service.
	labels := dep.Spec.Template.Labels
	for name, sel := range map[string]map[string]string{
		"Deployment": dep.Spec.Selector.MatchLabels, "Service": svc.Spec.Selector, "PodDisruptionBudget": pdb.Spec.Selector.MatchLabels,
	} {
		if len(sel) == 0 {
			t.Errorf("%s selects nothing", name)
		}
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("%s selects %s=%s, the pods are %v", name, k, v, labels)
			}
		}
	}
	if len(svc.Spec.Ports) != 1 || containerPort(c, svc.Spec.Ports[0].TargetPort) != p.Port {
		t.Errorf("Service ports %v: want one, to the API port %d", svc.Spec.Ports, p.Port)
	}
	for _, rule := range ing.Spec.Rules {
		for _, path := range rule.HTTP.Paths {
			b := path.Backend.Service
			if b == nil || b.Name != svc.Name || b.Port.Name != svc.Spec.Ports[0].Name {
				t.Errorf("Ingress backend %v is not the Service's port", path.Backend)
			}
		}
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Error("PodDisruptionBudget: want maxUnavailable 1")
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas < 2 {
		t.Error("fewer than 2 replicas: a drained instance's clients would have nowhere to go")
	}
}

func stripComments(text string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func dockerfile(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// entrypointConfig is the config file the image's ENTRYPOINT passes with -f.
func entrypointConfig(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^ENTRYPOINT (\[.*\])$`).FindStringSubmatch(dockerfile(t))
	var args []string
	if m == nil || json.Unmarshal([]byte(m[1]), &args) != nil {
		t.Fatal("Dockerfile: no ENTRYPOINT in exec form")
	}
	if i := slices.Index(args, "-f"); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	t.Fatalf("ENTRYPOINT %v has no -f", args)
	return ""
}

// imageUser is the uid of the image's USER line.
func imageUser(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^USER (\d+)(:\d+)?$`).FindStringSubmatch(dockerfile(t))
	if m == nil {
		t.Fatal("Dockerfile: no numeric USER")
	}
	return m[1]
}

// The check fails on what it is meant to catch.
func TestObjectsAreDecodedStrictly(t *testing.T) {
	bad := []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  selectr: {a: b}\n")
	if err := yaml.UnmarshalStrict(bad, &corev1.Service{}); err == nil {
		t.Error("a misspelt field decoded")
	}
	if bytes.Contains([]byte(stripComments("a: 1\n# b: ${X}\n")), []byte("${X}")) {
		t.Error("stripComments kept a comment")
	}
}
