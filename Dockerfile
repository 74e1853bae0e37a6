# Drip's image, for those with Docker or Podman: `docker build -t drip:0.1.0 .`
# (`deploy/build-image` makes the same image without a container engine.)
#
# The build stage compiles the release binary, then keeps its debug information aside
# (drip.debug, linked from the binary by name) and ships the binary stripped. The run stage is
# distroless: glibc, libgcc, zlib, CA certificates and a non-root user; no shell, no package
# manager. The manifests run it as 10001:10001 with a read-only root file system.

FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends zlib1g-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked -p drip \
    && objcopy --only-keep-debug target/release/drip /drip.debug \
    && objcopy --strip-debug --strip-unneeded --add-gnu-debuglink=/drip.debug \
        target/release/drip /drip

# The debug information, for `docker build --target debug-info -o . .`
FROM scratch AS debug-info
COPY --from=build /drip.debug /drip.debug

FROM gcr.io/distroless/cc-debian12 AS run
COPY --from=build /lib/x86_64-linux-gnu/libz.so.1 /lib/x86_64-linux-gnu/libz.so.1
COPY --from=build /drip /usr/local/bin/drip
USER 10001:10001
WORKDIR /var/lib/drip
ENV DRIP_HTTP=0.0.0.0:4000 \
    DRIP_DATA=/var/lib/drip
EXPOSE 4000 4369 9100 9568
ENTRYPOINT ["/usr/local/bin/drip"]
CMD ["start"]
