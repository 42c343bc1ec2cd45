// Package client holds sse-api's browser client library: sse-api-client.js (an ES module,
// no build step) and its TypeScript declarations, published to npm from this folder
// (package.json) and served by the service at /client/ (internal/web).
//
// It is a Go package only so that the service can embed the files: go:embed reaches no file
// outside its own package's folder, and embedding them here, where they are edited and
// published, keeps one copy of each instead of a second under internal/web/static.
package client

import "embed"

//go:embed sse-api-client.js sse-api-client.d.ts
var files embed.FS

// Files returns the library's files, named as they are served under /client/.
func Files() embed.FS { return files }
