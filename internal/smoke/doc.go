// Package smoke tests the artefact that is deployed: the static binary built by
// tools/build-static.sh (the Dockerfile's build step), started with the production config
// etc/sse-api.prod.yaml and its environment variables against a real Redis, and checked
// end to end: health, the Deployment's probes, metrics, the API document, publish,
// subscribe, resume, JSON logs without the secret, and a clean exit on SIGTERM. It has no
// code of its own, only the test.
package smoke
