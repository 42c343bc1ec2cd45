# syntax=docker/dockerfile:1
# The sse-api image: a static binary (tools/build-static.sh, the same script the smoke test
# in `make test` builds with) on distroless's static base, run as its non-root user, with
# the production config (etc/sse-api.prod.yaml). Secrets come from the environment:
#   docker build -t sse-api .
#   docker run -e SSE_ACCESS_SECRET=... -e SSE_REDIS_ADDR=redis:6379 -p 8888:8888 -p 6060:6060 sse-api

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so that a change to the code alone reuses this layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    tools/build-static.sh /out/sse-api

# No shell, no package manager, no C library; CA certificates and /etc/passwd with the
# nonroot user (uid 65532) are there.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sse-api /usr/local/bin/sse-api
COPY etc/sse-api.prod.yaml /etc/sse-api/sse-api.yaml
USER 65532:65532
# The API; the DevServer (probes, /metrics, pprof).
EXPOSE 8888 6060
ENTRYPOINT ["/usr/local/bin/sse-api", "-f", "/etc/sse-api/sse-api.yaml"]
