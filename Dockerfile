# The pulse binary in a small image. Build: docker build -t pulse .
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# the optimised build (Cargo.toml's profile.dist): slower to build, leaner to run
RUN cargo build --profile dist --bin pulse

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/dist/pulse /usr/local/bin/pulse
ENTRYPOINT ["pulse"]
CMD ["answer"]
