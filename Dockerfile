# The webhook's container image, for anyone with Docker or another OCI builder:
#   docker build -t pod-identity-webhook:0.1.0 .
# Stage 1 builds a release binary with the Swift runtime linked in statically, then lays out
# the runtime root filesystem with image/stage-rootfs.sh. Stage 2 is that filesystem on
# scratch: the binary, the libraries ldd lists, CA certificates, a passwd entry for 65532.
# scripts/build-image.sh makes the same runtime image on a machine without a Docker engine
# (buildah), from a binary built on the host; image/Containerfile.runtime is its stage 2.
FROM swift:6.3.1-bookworm AS build
WORKDIR /src
COPY . .
RUN swift build -c release --static-swift-stdlib --product pod-identity-webhook \
    && image/stage-rootfs.sh \
        "$(swift build -c release --static-swift-stdlib --show-bin-path)/pod-identity-webhook" /rootfs

FROM scratch
COPY --from=build /rootfs/ /
USER 65532:65532
EXPOSE 8443 9999
ENTRYPOINT ["/pod-identity-webhook"]
CMD ["serve"]
