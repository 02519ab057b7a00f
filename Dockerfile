# Build: the whole workspace with the bundled SQLite and libpq, so only a C compiler is needed.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p portcullis-server -p portcullis-github-fake \
 && install -D target/release/portcullis /out/portcullis \
 && install -D target/release/github-fake /out/github-fake

# Run: a slim image, a non-root user, nothing but the binary and CA certificates (for GitHub).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /app --uid 10001 portcullis \
 && install -d -m 0700 -o portcullis -g portcullis /app/data
# /app/data must exist, owned by the app user and private, in the image: Docker initialises an empty
# named volume (compose's `appdata`) from the image's folder, owner and mode included. Without it the
# volume was created root-owned and the server, running as uid 10001, could not write its database
# or generated secrets there.
COPY --from=build /out/portcullis /usr/local/bin/portcullis
COPY --from=build /out/github-fake /usr/local/bin/github-fake
USER portcullis
WORKDIR /app
ENV BIND_ADDR=0.0.0.0:8080 \
    DATA_DIR=/app/data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/portcullis"]
CMD ["serve"]
