# syntax=docker/dockerfile:1

# Build: a static binary (no cgo), reproducible paths, version stamped in.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
# -tags timetzdata embeds the time zone database, so maintenance windows in
# any zone work whatever the final image carries.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -tags timetzdata \
      -ldflags "-s -w -X main.version=${VERSION}" -o /out/deploybot . \
 && mkdir -p /out/data

# Run: distroless static (CA certificates, /etc/passwd, no shell), as nonroot (65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/deploybot /deploybot
# The embedded store's folder, for when REDIS_URL is unset.
COPY --from=build --chown=65532:65532 /out/data /data
ENV DEPLOYBOT_ADDR=":8080" \
    DEPLOYBOT_DATA="/data"
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/deploybot"]
