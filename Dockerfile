# syntax=docker/dockerfile:1
# One image for both `vrrp-operator agent` and `vrrp-operator controller`:
#   docker build -t ghcr.io/vrrp-dev/vrrp-operator:0.1.0 .
# Without an engine, `make image` writes the same layout as a tarball (hack/image).
#
# The default base is the `base` stage below: Debian's static busybox with every applet linked in
# /bin, root and nonroot (65532) in /etc/passwd and /etc/group, /tmp with mode 1777. The binary is
# static and needs none of it, but hooks are often shell scripts (the seed's notify script is), and
# a base without /bin/sh (distroless) cannot run them. busybox-static adds 2 MB and no C library.
# Another base works too, e.g. --build-arg BASE_IMAGE=debian:12-slim for hooks that need bash.
ARG BASE_IMAGE=base

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

# The target platform's busybox, so that `busybox --list` runs (under emulation when cross-building).
# Keep the layout in step with hack/image/layers.go.
FROM debian:12-slim AS busybox
RUN apt-get update && apt-get install -y --no-install-recommends busybox-static && rm -rf /var/lib/apt/lists/*
RUN set -e; r=/rootfs; \
	mkdir -p $r/bin $r/etc $r/usr/local/bin $r/root $r/home/nonroot $r/tmp; \
	cp /bin/busybox $r/bin/busybox; \
	for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox $r/bin/$a; done; \
	printf 'root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/home/nonroot:/bin/false\n' >$r/etc/passwd; \
	printf 'root:x:0:\nnonroot:x:65532:\n' >$r/etc/group; \
	chmod 0700 $r/root $r/home/nonroot; chown 65532:65532 $r/home/nonroot; chmod 1777 $r/tmp

FROM scratch AS base
COPY --from=busybox /rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

FROM ${BASE_IMAGE}
COPY --from=build /out/vrrp-operator /usr/local/bin/vrrp-operator
# Non-root by default: the controller needs no privileges. The chart runs the agent as root with only
# NET_ADMIN and NET_RAW, which netlink and raw sockets require.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/vrrp-operator"]
