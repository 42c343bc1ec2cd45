// Package middleware is the HTTP edge of sse-api: what every request passes through before
// its logic (client address, body limit, access log) and the route middlewares of sse.api
// (the publish body). Logic reads what they found through the request context.
package middleware
