# Signet in a container: a static binary on a distroless base, as a non-root
# user, with its data in the /data volume.
#
#   docker build -t signet .
#   docker run -p 5556:5556 -v signet-data:/data -v ./signet.yaml:/etc/signet/signet.yaml:ro signet
#
# The configuration must say `listen: 0.0.0.0:5556` (or ":5556") and
# `data_dir: /data`. Secrets: leave them to data_dir (generated on first start,
# backed up with `signet backup`), or mount them as files and point
# SIGNET_KEY_ENCRYPTION_KEY_FILE / SIGNET_COOKIE_KEY_FILE at them (mode 0400 or
# 0600: a key file others can read is refused).

ARG GO_VERSION=1.26
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
# Static (no cgo), reproducible paths; the version goes into `signet version`.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/signet ./cmd/signet
# The data directory, owned by the image's non-root user (65532) and closed to
# others, as signet requires.
RUN mkdir -p /out/data && chmod 700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/signet /usr/local/bin/signet
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV SIGNET_CONFIG=/etc/signet/signet.yaml
VOLUME ["/data"]
EXPOSE 5556
# The image has no curl: signet asks its own /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/signet", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/signet"]
CMD ["serve"]
