// Package deploycheck checks the Kubernetes manifests in deploy/kubernetes against the
// service they deploy: each decodes strictly into its Kubernetes API type; the probes,
// ports and config path match what the image and etc/sse-api.prod.yaml serve; the
// ConfigMap holds that file as it is; the grace period covers the drain. It lives in the
// tools module so the Kubernetes API types stay out of the service's dependencies, and
// holds only the test.
package deploycheck
