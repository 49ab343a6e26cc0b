# syntax=docker/dockerfile:1
# Build: docker build -t credwatch .
# Run:   docker run -p 8080:8080 -v credwatch-data:/var/lib/credwatch \
#          -v ./credwatch.toml:/etc/credwatch/credwatch.toml:ro --env-file credwatch.env credwatch

FROM rust:1-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so a source change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY crates/emulator/Cargo.toml crates/emulator/Cargo.toml
COPY .cargo .cargo
RUN mkdir src crates/emulator/src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs crates/emulator/src/lib.rs \
    && cargo build --release --locked && rm -rf src crates/emulator/src
COPY migrations migrations
COPY templates templates
COPY static static
COPY crates crates
COPY src src
RUN touch src/main.rs src/lib.rs crates/emulator/src/lib.rs && cargo build --release --locked \
    && strip target/release/credwatch

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/credwatch --create-home --shell /usr/sbin/nologin credwatch
COPY --from=build /src/target/release/credwatch /usr/local/bin/credwatch
USER credwatch
WORKDIR /var/lib/credwatch
VOLUME ["/var/lib/credwatch"]
ENV CREDWATCH_CONFIG=/etc/credwatch/credwatch.toml \
    CREDWATCH_DATABASE_URL=sqlite:///var/lib/credwatch/credwatch.db \
    CREDWATCH_LISTEN=0.0.0.0:8080 \
    CREDWATCH_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["credwatch", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["credwatch"]
CMD ["serve"]
