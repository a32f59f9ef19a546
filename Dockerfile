# syntax=docker/dockerfile:1
# One image for both `vrrp-operator agent` and `vrrp-operator controller`:
#   docker build -t ghcr.io/vrrp-dev/vrrp-operator:0.1.0 .
# The binary is static (CGO_ENABLED=0), so the final stage holds nothing else. Hooks are programs in
# the agent's hook directory; a hook that is a script needs its interpreter in the image, e.g.
#   docker build --build-arg BASE_IMAGE=debian:12-slim ...
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
	go build -trimpath -ldflags="-s -w" -o /out/vrrp-operator ./cmd/vrrp-operator

FROM ${BASE_IMAGE}
COPY --from=build /out/vrrp-operator /usr/local/bin/vrrp-operator
# Non-root by default: the controller needs no privileges. The chart runs the agent as root with only
# NET_ADMIN and NET_RAW, which netlink and raw sockets require.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/vrrp-operator"]
