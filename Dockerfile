# syntax=docker/dockerfile:1

# tokend's image: one static binary (the SQLite driver is pure Go, so no cgo)
# on distroless, running as an unprivileged user.
#
#   docker build -t tokend .
#   docker run -p 8080:8080 -e TOKEND_SECRET=... -v tokend-data:/data tokend
#
# Without TOKEND_DATABASE_URL, tokend keeps an SQLite file in the /data
# volume. cmd/tokend/compose_test.go checks this file and builds the binary
# the way it does.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/tokend ./cmd/tokend \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tokend /usr/local/bin/tokend
# The volume starts out owned by the user tokend runs as, so that it can
# create the SQLite file and, without TOKEND_SECRET, a generated secret.
COPY --from=build --chown=65532:65532 /out/data /data
ENV TOKEND_LISTEN=:8080 \
    TOKEND_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
# distroless has no shell or curl: tokend checks its own /readyz.
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/tokend", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/tokend"]
CMD ["serve"]
