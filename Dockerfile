# syntax=docker/dockerfile:1
#
# Portcullis container image: one static binary on distroless/static, run as
# the distroless "nonroot" user (65532). No shell, no package manager; the
# binary probes itself (`portcullis health ready`).
#
#   docker build --build-arg VERSION=v1.2.3 --build-arg REVISION=$(git rev-parse HEAD) -t portcullis .
#   docker run --rm -p 9191:9191 -p 4456:4456 portcullis      # embedded quickstart
#
# or `task image`. The build line below is the Taskfile's release build;
# e2e/image_test.go builds the binary with exactly these flags and starts it
# with this CMD. For reproducible images pin both base images by digest
# (image@sha256:...).

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first: a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# TARGETOS/TARGETARCH come from --platform: cross-compiled, no emulation.
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG REVISION=unknown
# The context has no .git (see .dockerignore), so -buildvcs=false and the
# version and revision come in through -ldflags.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" -o /out/portcullis ./cmd/portcullis

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/portcullis /portcullis
# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
# 9191: ext_authz gRPC. 4456: HTTP API (decisions, health, JWKS). Metrics
# and pprof (serve.metrics, 9000) listen on 127.0.0.1 unless configured.
EXPOSE 9191 4456
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s CMD ["/portcullis", "health", "ready"]
ENTRYPOINT ["/portcullis"]
# Without --config the embedded quickstart runs; mount a config and pass
# `serve --config /etc/portcullis/config.yaml` to run yours.
CMD ["serve"]
