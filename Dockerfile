# Leadline: a static Go binary on Alpine, running as a non-root user.
#
#   docker build -t leadline .                      # with espeak-ng for spoken whispers
#   docker build --build-arg ESPEAK=no -t leadline .  # without: whispers are tones
#
# The same image runs `leadline serve` (the default command) and `leadline phones`.

ARG GO_VERSION=1.26
ARG ALPINE_VERSION=3.22

FROM golang:${GO_VERSION}-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO_ENABLED=0: a static binary (the SQLite driver is pure Go). timetzdata embeds the
# time zone database, so dealers' time zones work on any base image.
RUN CGO_ENABLED=0 go build -trimpath -tags timetzdata -ldflags="-s -w" -o /out/leadline ./cmd/leadline

FROM alpine:${ALPINE_VERSION}
ARG ESPEAK=yes
RUN apk add --no-cache ca-certificates \
    && if [ "$ESPEAK" = yes ]; then apk add --no-cache espeak-ng; fi \
    && addgroup -S -g 10001 leadline \
    && adduser -S -D -H -u 10001 -G leadline -h /var/lib/leadline leadline \
    && mkdir -p /var/lib/leadline /etc/leadline \
    && chown leadline:leadline /var/lib/leadline
COPY --from=build /out/leadline /usr/local/bin/leadline
USER 10001:10001
# The working directory is writable: sqlite://leadline.db lands here.
WORKDIR /var/lib/leadline
# HTTP API and metrics; SIP on UDP and TCP; RTP (sip.rtp_ports; publish the same range).
EXPOSE 8080 5060/udp 5060/tcp
ENTRYPOINT ["/usr/local/bin/leadline"]
CMD ["serve", "--config", "/etc/leadline/leadline.yaml"]
