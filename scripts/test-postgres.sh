#!/usr/bin/env bash
# Sourced by scripts/test: starts a throwaway PostgreSQL for the tests and stops it on exit.
# It runs as an unprivileged user (PostgreSQL refuses root: as root, the `postgres` user that
# Debian's package creates), with password (SCRAM) auth, on a free loopback port, in a temp dir.
# Exports:
#   REGISTRAR_TEST_DATABASE  a superuser URL (tests create a database each from it)
#   REGISTRAR_TEST_PG_CTL    a command taking start|stop|restart, for the tests that stop the server

start_test_postgres() {
  local bindir user dir port password
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    echo "PostgreSQL's server is not installed (Debian: apt-get install postgresql)" >&2
    return 1
  fi
  dir=$(mktemp -d /tmp/registrar-test-pg.XXXXXX)
  if [ "$(id -u)" = 0 ]; then
    user=postgres
    id "$user" >/dev/null 2>&1 || useradd --system --no-create-home "$user"
    chown "$user" "$dir"
    as_pg() { runuser -u postgres -- "$@"; }
  else
    as_pg() { "$@"; }
  fi
  password=$(openssl rand -hex 16)
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  printf '%s\n' "$password" >"$dir/password"
  [ -n "${user:-}" ] && chown "$user" "$dir/password"
  as_pg "$bindir/initdb" -D "$dir/data" -U registrar --pwfile="$dir/password" --auth=scram-sha-256 \
    -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
  rm -f "$dir/password"
  cat >"$dir/pg_ctl" <<SCRIPT
#!/usr/bin/env bash
# start | stop | restart the tests' PostgreSQL
run() { if [ "\$(id -u)" = 0 ]; then runuser -u postgres -- "\$@"; else "\$@"; fi; }
if [ "\$1" = stop ]; then exec_args=(-m fast); else exec_args=(); fi
run "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \\
  -o "-h 127.0.0.1 -p $port -k $dir -c synchronous_commit=on -c max_connections=200" "\$1" "\${exec_args[@]}" >/dev/null
SCRIPT
  chmod +x "$dir/pg_ctl"
  "$dir/pg_ctl" start || { cat "$dir/server.log" >&2; return 1; }
  export REGISTRAR_TEST_DATABASE="postgres://registrar:$password@127.0.0.1:$port/postgres?sslmode=disable"
  export REGISTRAR_TEST_PG_CTL="$dir/pg_ctl"
  TEST_PG_DIR=$dir
  trap stop_test_postgres EXIT
  echo "== PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') for the tests on 127.0.0.1:$port"
}

stop_test_postgres() {
  if [ -n "${TEST_PG_DIR:-}" ]; then
    "$TEST_PG_DIR/pg_ctl" stop >/dev/null 2>&1 || true
    rm -rf "$TEST_PG_DIR"
    TEST_PG_DIR=""
  fi
}
