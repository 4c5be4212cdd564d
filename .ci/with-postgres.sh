#!/usr/bin/env bash
# Run "$@" with QLIGHT_TEST_POSTGRES_URL pointing at a throwaway PostgreSQL server on
# 127.0.0.1, so that the registry's PostgreSQL tests run against a real server. Where no
# server can be had (no Debian postgresql package and no way to install it), run "$@" as it
# is: those tests then skip and say why. The server and its data die with this script.
set -uo pipefail

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

PGBIN=$(pg_bin)
if [ -z "$PGBIN" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "with-postgres: installing Debian's postgresql package" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) \
    >/dev/null 2>&1 || echo "with-postgres: install failed" >&2
  PGBIN=$(pg_bin)
fi
if [ -z "$PGBIN" ]; then
  echo "with-postgres: no PostgreSQL server on this machine; PostgreSQL tests will skip" >&2
  exec "$@"
fi

RUNAS=()
DIR=$(mktemp -d /tmp/qlight-pg.XXXXXX)
if [ "$(id -u)" = 0 ]; then  # the server refuses to run as root
  RUNAS=(runuser -u postgres --)
  chown postgres "$DIR"
fi
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

stop() {
  "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1
  rm -rf "$DIR"
}

if "${RUNAS[@]}" "$PGBIN/initdb" -D "$DIR/data" -A trust -U qlight >/dev/null 2>&1 &&
  "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-k $DIR -p $PORT -c listen_addresses=127.0.0.1" start >/dev/null 2>&1 &&
  "${RUNAS[@]}" "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U qlight qlight_test; then
  trap stop EXIT
  export QLIGHT_TEST_POSTGRES_URL="postgresql+psycopg://qlight@127.0.0.1:$PORT/qlight_test"
  echo "with-postgres: PostgreSQL at 127.0.0.1:$PORT for the registry tests" >&2
else
  echo "with-postgres: could not start PostgreSQL (see $DIR/server.log); its tests will skip" >&2
fi

"$@"
