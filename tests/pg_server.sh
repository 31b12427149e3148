#!/usr/bin/env bash
# Start (or reuse) a throwaway PostgreSQL server on 127.0.0.1 for the test suite and print its URL.
# Installs Debian's postgresql package when no server binaries exist. Logs go to stderr.
set -euo pipefail
PORT="${LABDB_TEST_PG_PORT:-55432}"
DIR="${LABDB_TEST_PG_DIR:-/tmp/labdb-test-pg-$PORT}"
URL="postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"

find_bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/pg_ctl" ]; then pg_config --bindir; return; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

BIN="$(find_bindir || true)"
if [ -z "$BIN" ] || [ ! -x "$BIN/pg_ctl" ]; then
  echo "pg_server: no PostgreSQL server found; installing Debian's postgresql package" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  $SUDO apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
  BIN="$(find_bindir)"
fi

if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  echo "pg_server: reusing the server on 127.0.0.1:$PORT" >&2
  echo "$URL"; exit 0
fi

RUN=()
if [ "$(id -u)" = 0 ]; then
  RUN=(runuser -u postgres --)
  mkdir -p "$DIR" && chown postgres "$DIR"
else
  mkdir -p "$DIR"
fi
if [ ! -f "$DIR/data/PG_VERSION" ]; then
  rm -rf "$DIR/data"
  "${RUN[@]}" "$BIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --no-sync >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; exit 1; }
fi
"${RUN[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
  -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >&2 || { tail -n 20 "$DIR/server.log" >&2; exit 1; }
echo "pg_server: started PostgreSQL on 127.0.0.1:$PORT (data in $DIR)" >&2
echo "$URL"
