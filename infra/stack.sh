#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Chorus local stack without Docker: Mosquitto, Redis, PostgreSQL, FerretDB as
# plain background processes on 127.0.0.1, state under .stack/ (see infra/README.md).
#
#   infra/stack.sh install             install missing apt packages + build FerretDB
#   infra/stack.sh up [NAME...]        install, start what is not running, wait until healthy
#   infra/stack.sh down [NAME...]      stop what this script started (data is kept)
#   infra/stack.sh status [--check] [NAME...]
#   infra/stack.sh logs [-f] [NAME...]
#   infra/stack.sh reset               down + delete the data directory
#   infra/stack.sh rotate SECRET...    new redis|postgres|postgres-ferretdb|mongo password,
#                                      or new tls certificates, applied to the running servers
#
# NAME: mosquitto redis postgres ferretdb mailsink (default: all). FerretDB keeps its
# data in this stack's PostgreSQL (database ferretdb) and starts once it is healthy.
# Environment: CHORUS_STACK_DIR (default <repo>/.stack), MQTT_PORT (1883),
# MQTTS_PORT (8883 when MQTT_PORT is 1883, else none unless set; 0: none),
# REDIS_PORT (6379), POSTGRES_PORT (5432), MONGO_PORT (27017), SMTP_PORT (1025),
# CHORUS_START_TIMEOUT (60 s per server), CHORUS_STOP_TIMEOUT (30 s per server).
# A second stack with its own CHORUS_STACK_DIR and ports is fully independent.
# Passwords and the TLS certificates are generated once, in the credentials folder
# (BUS_CREDENTIALS_DIR, default ~/.config/chorus/credentials): infra/stack_secrets.py.
set -euo pipefail

PROG=stack.sh
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

ALL_SERVERS=(mosquitto redis postgres ferretdb mailsink)
APT_PACKAGES=(mosquitto mosquitto-clients redis-server postgresql libmagic1 openssl chromium chromium-driver)

MQTT_PORT=${MQTT_PORT:-1883}
# The TLS listener: on by default only for the default broker port, so that private
# stacks (tests, bench) on other ports never collide on 8883.
if [[ $MQTT_PORT == 1883 ]]; then MQTTS_PORT=${MQTTS_PORT:-8883}; else MQTTS_PORT=${MQTTS_PORT:-0}; fi
REDIS_PORT=${REDIS_PORT:-6379}
POSTGRES_PORT=${POSTGRES_PORT:-5432}
MONGO_PORT=${MONGO_PORT:-27017}
SMTP_PORT=${SMTP_PORT:-1025}
START_TIMEOUT=${CHORUS_START_TIMEOUT:-60}
STOP_TIMEOUT=${CHORUS_STOP_TIMEOUT:-30}

# The app's PostgreSQL role and database; its password is generated (postgres.json in
# the credentials folder), as are Redis's and FerretDB's (redis.json, mongo.json).
PG_APP_USER=chorus
PG_APP_DB=chorus
# FerretDB keeps its data in PostgreSQL: database ferretdb, owned by role ferretdb (its
# password: postgres-ferretdb.json), which the app role cannot connect to.
FERRETDB_PG_USER=ferretdb
FERRETDB_PG_DB=ferretdb
# Where stack_secrets.py and the bus keep them (bus.settings.BusSettings.credentials_dir).
# A stack keeps the folder it was first started with (data/credentials-dir, until reset):
# an `up` with another BUS_CREDENTIALS_DIR (a test's own folder of broker identities) must
# not give the running servers new passwords.
CREDENTIALS_DIR=${BUS_CREDENTIALS_DIR:-${XDG_CONFIG_HOME:-$HOME/.config}/chorus/credentials}
if [[ -s $DATA_DIR/credentials-dir ]]; then CREDENTIALS_DIR=$(<"$DATA_DIR/credentials-dir"); fi
TLS_DIR=$CREDENTIALS_DIR/tls
SECRETS_ENV=(env "BUS_CREDENTIALS_DIR=$CREDENTIALS_DIR")
SECRETS=("${SECRETS_ENV[@]}" python3 "$INFRA_DIR/stack_secrets.py")

FERRETDB_VERSION=v1.24.2
FERRETDB_MODULE=github.com/FerretDB/FerretDB
# Outside the repo so that a fresh clone on the same machine reuses the binary.
CHORUS_HOME=${XDG_DATA_HOME:-$HOME/.local/share}/chorus
FERRETDB_BIN=${CHORUS_FERRETDB_BIN:-$CHORUS_HOME/bin/ferretdb-$FERRETDB_VERSION}
# Fixed build directory: Go's build cache keys on the source path, so reusing
# the same path makes rebuilds take seconds instead of minutes.
FERRETDB_BUILD_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/chorus/ferretdb-src-$FERRETDB_VERSION

# ------------------------------------------------------------------ per server

server_port() {
    case $1 in
        mosquitto) printf '%s' "$MQTT_PORT" ;;
        redis) printf '%s' "$REDIS_PORT" ;;
        postgres) printf '%s' "$POSTGRES_PORT" ;;
        ferretdb) printf '%s' "$MONGO_PORT" ;;
        mailsink) printf '%s' "$SMTP_PORT" ;;
    esac
}

# String that must appear in /proc/PID/cmdline of a server we started.
server_match() {
    case $1 in
        mosquitto) printf '%s' "$RUN_DIR/mosquitto.conf" ;;
        redis) printf '%s' "redis-server" ;;
        postgres) printf '%s' "postgres" ;;
        ferretdb) printf '%s' "ferretdb" ;;
        mailsink) printf '%s' "services.notifier.mailsink" ;;
    esac
}

# Stop sequence: postgres SIGINT = "fast" shutdown (SIGTERM = "smart" waits for
# every client to disconnect, which connected services never do).
server_stop_signals() {
    case $1 in
        postgres) printf 'INT:%s TERM:10' "$STOP_TIMEOUT" ;;
        *) printf 'TERM:%s' "$STOP_TIMEOUT" ;;
    esac
}

pidfile_of() { printf '%s' "$RUN_DIR/$1.pid"; }
logfile_of() { printf '%s' "$LOG_DIR/$1.log"; }

# our_pid NAME -> pid of the server this stack dir started, if alive.
our_pid() { pidfile_pid "$(pidfile_of "$1")" "$(server_match "$1")"; }

# Port a running server of ours was started with (env may differ now).
running_port() {
    local f=$RUN_DIR/$1.port
    if [[ -s $f ]]; then cat -- "$f"; else server_port "$1"; fi
}

# --- mosquitto

health_mosquitto() { # a full MQTT handshake: anonymous clients are refused, by a broker that answers
    local out
    out=$(timeout 5 mosquitto_pub -h 127.0.0.1 -p "$1" -q 1 -t chorus/healthcheck -m x \
        -i "chorus-healthcheck-$$-$RANDOM" 2>&1) || [[ ${out,,} == *"not authori"[sz]"ed"* ]] || return 1
    # The TLS listener too, when it has one: the handshake verifies the server's
    # certificate against the generated CA, for the name clients use (localhost).
    local tls
    tls=$(running_tls_port)
    ((tls)) || return 0
    out=$(timeout 5 mosquitto_pub -h localhost -p "$tls" --cafile "$TLS_DIR/ca.crt" -q 1 \
        -t chorus/healthcheck -m x -i "chorus-healthcheck-$$-$RANDOM" 2>&1) ||
        [[ ${out,,} == *"not authori"[sz]"ed"* ]]
}
kind_mosquitto() { MQTTS_CHECK=0 health_mosquitto "$1"; } # someone else's: plain port only

# The TLS port our running broker was started with (0: none, or not ours).
running_tls_port() {
    local f=$RUN_DIR/mosquitto.tls-port
    if ((${MQTTS_CHECK:-1})) && [[ -s $f ]]; then cat -- "$f"; else printf 0; fi
}

# CA and server certificate, made on first use (infra/stack_secrets.py).
ensure_tls() { "${SECRETS[@]}" tls >/dev/null || die "could not make the TLS certificates"; }

dynsec_plugin() { # Debian ships it in the mosquitto package, under the multiarch lib dir
    local f
    for f in /usr/lib/*/mosquitto_dynamic_security.so /usr/lib/mosquitto_dynamic_security.so; do
        [[ -e $f ]] && { printf '%s' "$f"; return 0; }
    done
    die "mosquitto_dynamic_security.so not found (Mosquitto 2.0's dynamic security plugin)"
}

# The broker's configuration (start_mosquitto writes it; `up` restarts a running broker
# whose configuration differs, e.g. one started before it had a TLS listener).
config_mosquitto() {
    local data=$DATA_DIR/mosquitto
    printf '# GENERATED by infra/stack.sh on every start: edit infra/mosquitto/mosquitto.conf instead.\n'
    if ((EUID == 0)); then
        printf '# As root, Mosquitto 2 silently drops privileges to user "mosquitto", which\n'
        printf '# then cannot write the root-owned persistence dir (fails only at save time).\n'
        printf 'user root\n'
    fi
    printf 'listener %s 127.0.0.1\n' "$MQTT_PORT"
    if ((MQTTS_PORT)); then
        # TLS (1.2 or 1.3: Mosquitto 2's default) with the generated server certificate;
        # clients verify it against tls/ca.crt. The same logins and rules as on the
        # plain listener (per_listener_settings is false).
        ensure_tls
        printf 'listener %s 127.0.0.1\n' "$MQTTS_PORT"
        printf 'certfile %s\nkeyfile %s\n' "$TLS_DIR/server.crt" "$TLS_DIR/server.key"
        # Changes when the certificate is renewed or rotated, so that `up` restarts.
        printf '# server certificate %s\n' "$(openssl x509 -in "$TLS_DIR/server.crt" -noout -serial)"
    fi
    printf 'persistence_location %s/\n' "$data"
    printf 'plugin %s\n' "$(dynsec_plugin)"
    printf 'plugin_opt_config_file %s\n' "$data/dynsec.json"
    # The policy's content, not its path: another checkout's `up` (a test's copy) must not
    # count as another configuration.
    printf '\n# ---- infra/mosquitto/mosquitto.conf\n'
    cat -- "$INFRA_DIR/mosquitto/mosquitto.conf"
}

start_mosquitto() {
    local data=$DATA_DIR/mosquitto conf=$RUN_DIR/mosquitto.conf
    mkdir -p "$data"
    config_mosquitto >"$conf"
    printf '%s\n' "$MQTTS_PORT" >"$RUN_DIR/mosquitto.tls-port"
    # The ops and dynsec-admin identities, written into the plugin's file while the
    # broker is down (services get theirs from `bus credentials apply`, run by make up).
    python3 "$INFRA_DIR/broker_identities.py" "$data/dynsec.json" >&2
    launch "$(pidfile_of mosquitto)" "$(logfile_of mosquitto)" mosquitto -c "$conf"
}

# --- redis

# A secret for a health check, read once per run (stack_secrets.py creates it if needed).
declare -A SECRET_CACHE=()
store_password() {
    [[ -n ${SECRET_CACHE[$1]:-} ]] || SECRET_CACHE[$1]=$("${SECRETS[@]}" password "$1") ||
        die "could not read the $1 password from $CREDENTIALS_DIR"
}

health_redis() { # logged in with the generated password (REDISCLI_AUTH: not on a command line)
    store_password redis
    [[ $(REDISCLI_AUTH=${SECRET_CACHE[redis]} timeout 5 redis-cli --no-auth-warning \
        -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]
}
kind_redis() { # PONG, NOAUTH (a Redis with a password) or LOADING while replaying the AOF
    local out
    out=$(timeout 5 redis-cli -h 127.0.0.1 -p "$1" ping 2>&1) || true
    [[ $out == PONG || $out == *NOAUTH* || $out == *LOADING* ]]
}

# Redis's configuration: infra/redis/redis.conf plus the password of its one user,
# "default" (the SHA-256 of redis.json's). Not a user of our own with "default" off:
# Redis 7.0 replays the append-only file as "default", and then drops every MULTI/EXEC
# in it (NOPERM), so a restart would lose them. Owner-only, in run/; `up` restarts a
# running Redis whose configuration differs (one started before it had a password,
# or after a rotation).
config_redis() {
    printf '# GENERATED by infra/stack.sh on every start: edit infra/redis/redis.conf instead.\n'
    "${SECRETS[@]}" redis-acl || die "could not make the Redis password"
    # Its content, not an include: another checkout's `up` (a test's copy) must not count
    # as another configuration.
    printf '\n# ---- infra/redis/redis.conf\n'
    cat -- "$INFRA_DIR/redis/redis.conf"
}

start_redis() {
    local data=$DATA_DIR/redis conf=$RUN_DIR/redis.conf
    mkdir -p "$data"
    (umask 077 && config_redis >"$conf")
    launch "$(pidfile_of redis)" "$(logfile_of redis)" \
        redis-server "$conf" --port "$REDIS_PORT" --dir "$data"
}

# --- postgres
#
# PostgreSQL refuses to run as root, so as root the server runs as the OS user
# "postgres" (setpriv, which exec's directly: unlike runuser/su it leaves no
# watching parent that would SIGKILL the server 2 s after forwarding SIGTERM).
# That user needs search (x) permission on every ancestor of the data and socket
# directories. /work/main and <repo>/.stack are 755, which is fine; a checkout
# below a private home (e.g. /root, mode 700) is not. In that case we do NOT
# loosen the home directory's permissions; the cluster lives in the postgres
# user's home instead (/var/lib/postgresql/chorus-stacks/<hash of stack dir>)
# and .stack/data/postgres is a symlink to it (reset deletes both).
# The unix socket (used only for the local superuser setup) has a path length
# limit of ~107 bytes; if run/ is too deep it goes to /tmp/chorus-pg-<hash>.

pg_bindir() {
    local d
    if [[ -n ${PG_BINDIR:-} ]]; then
        printf '%s' "$PG_BINDIR"
        return
    fi
    d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
    [[ -n $d ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)"
    printf '%s' "$d"
}

pg_os_user() { if ((EUID == 0)); then printf 'postgres'; else id -un; fi; }

# as_pg CMD...: run as the postgres OS user (from / so its cwd is readable).
as_pg() {
    if ((EUID == 0)); then
        local home
        home=$(getent passwd postgres | cut -d: -f6)
        (cd / && setpriv --reuid=postgres --regid=postgres --init-groups -- env HOME="${home:-/}" "$@")
    else
        (cd / && "$@")
    fi
}

stack_hash() { printf '%s' "$STACK_DIR" | cksum | cut -d' ' -f1; }

# Sets PG_DATA and PG_SOCK for this stack dir (deterministic, no side effects
# besides creating directories when $1 == create).
pg_locate() {
    local create=${1:-}
    local link=$DATA_DIR/postgres base
    PG_SOCK=$RUN_DIR/postgres
    if [[ -L $link ]]; then
        PG_DATA=$(readlink -- "$link")
        PG_SOCK=$(dirname -- "$PG_DATA")/run
    elif ((EUID == 0)) && ! as_pg test -x "$DATA_DIR" -a -x "$RUN_DIR" 2>/dev/null; then
        base=$(getent passwd postgres | cut -d: -f6)/chorus-stacks/$(stack_hash)
        PG_DATA=$base/data
        PG_SOCK=$base/run
        if [[ $create == create ]]; then
            warn "user postgres cannot reach $STACK_DIR (a parent directory is not o+x);" \
                "keeping the cluster in $base, linked from $link"
            mkdir -p "$base"
            chown postgres: "$base"
            ln -sfn -- "$PG_DATA" "$link"
        fi
    else
        PG_DATA=$link
    fi
    if ((${#PG_SOCK} + 16 > 100)); then
        PG_SOCK=/tmp/chorus-pg-$(stack_hash)
    fi
    if [[ $create == create ]]; then
        mkdir -p "$PG_DATA" "$PG_SOCK"
        chown "$(pg_os_user):" "$PG_DATA" "$PG_SOCK"
        chmod 700 "$PG_DATA"
        chmod 755 "$PG_SOCK"
    fi
}

health_postgres() { # accepting connections AND the app role can log in
    timeout 5 pg_isready -q -h 127.0.0.1 -p "$1" || return 1
    store_password postgres
    pg_login "$1" "$PG_APP_USER" "$PG_APP_DB" "${SECRET_CACHE[postgres]}"
}
# Our PostgreSQL is set up: both roles log in (setup_postgres otherwise).
roles_postgres() { health_postgres "$1" && ferretdb_backend_ready; }
pg_login() { # pg_login PORT ROLE DATABASE PASSWORD
    PGPASSWORD=$4 PGCONNECT_TIMEOUT=3 timeout 5 \
        psql -X -q -w -h 127.0.0.1 -p "$1" -U "$2" -d "$3" -Atc 'select 1' >/dev/null 2>&1
}
kind_postgres() { # 0 = accepting, 1 = rejecting (starting up / shutting down)
    local rc=0
    timeout 5 pg_isready -q -h 127.0.0.1 -p "$1" || rc=$?
    ((rc == 0 || rc == 1))
}
ready_postgres() { timeout 5 pg_isready -q -h 127.0.0.1 -p "$1"; }

pg_kill_orphans() { # pg_kill_orphans REAL_DATA_DIR
    local d p left=()
    for d in /proc/[0-9]*; do
        [[ $(readlink -- "$d/cwd" 2>/dev/null) == "$1" ]] || continue
        p=${d#/proc/}
        if proc_alive "$p" && proc_cmdline_has "$p" postgres; then
            kill -KILL "$p" 2>/dev/null && left+=("$p")
        fi
    done
    for p in "${left[@]+"${left[@]}"}"; do wait_gone "$p" 5 || true; done
    ((${#left[@]} == 0)) || warn "killed ${#left[@]} orphaned postgres process(es) of a dead postmaster"
}

start_postgres() {
    local bindir log
    bindir=$(pg_bindir)
    log=$(logfile_of postgres)
    pg_locate create
    if [[ ! -s $PG_DATA/PG_VERSION ]]; then
        say "postgres: initdb $PG_DATA" >&2
        # peer auth on the unix socket (superuser setup below), passwords over TCP.
        as_pg "$bindir/initdb" -D "$PG_DATA" -U "$(pg_os_user)" --auth-local=peer \
            --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 --no-instructions \
            >>"$log" 2>&1 || {
            show_log_tail "$log"
            die "initdb failed"
        }
    fi
    # A postmaster killed with SIGKILL leaves postmaster.pid behind. Its orphaned
    # children were killed by kill_group_leftovers; if the recorded pid is gone
    # (or a not-yet-reaped zombie, which makes postgres think it still runs),
    # the lock file is stale and safe to remove.
    # Postgres children call setsid(), so kill_group_leftovers cannot find the
    # orphaned backends of a SIGKILLed postmaster; they all have the data dir as
    # their cwd, which identifies them exactly. They would keep the old shared
    # memory attached ("pre-existing shared memory block is still in use").
    local lock old
    old=$(head -n 1 -- "$PG_DATA/postmaster.pid" 2>/dev/null) || old=
    if [[ -n $old ]] && ! proc_alive "$old"; then
        pg_kill_orphans "$(readlink -f -- "$PG_DATA")"
    fi
    # Same for the unix socket's lock file.
    for lock in "$PG_DATA/postmaster.pid" "$PG_SOCK/.s.PGSQL.$POSTGRES_PORT.lock"; do
        [[ -f $lock ]] || continue
        old=$(head -n 1 -- "$lock")
        if ! proc_alive "$old"; then
            rm -f -- "$lock"
        fi
    done
    local have want
    have=$(<"$PG_DATA/PG_VERSION")
    want=$(basename -- "$(dirname -- "$bindir")")
    [[ $have == "$want" ]] || die "$PG_DATA is a PostgreSQL $have cluster but the server binaries are $want (reset, or set PG_BINDIR)"
    local -a pgcmd=("$bindir/postgres" -D "$PG_DATA" -p "$POSTGRES_PORT"
        -c listen_addresses=127.0.0.1 -c "unix_socket_directories=$PG_SOCK"
        -c logging_collector=off)
    if ((EUID == 0)); then
        pgcmd=(setpriv --reuid=postgres --regid=postgres --init-groups -- "${pgcmd[@]}")
    fi
    launch "$(pidfile_of postgres)" "$log" "${pgcmd[@]}"
}

# Idempotent: role chorus (LOGIN CREATEDB) with the generated password (postgres.json)
# and database chorus owned by it; role ferretdb (LOGIN only, postgres-ferretdb.json)
# and database ferretdb owned by it, which no other role may connect to. Runs as the
# superuser over the unix socket, on every `up` where a role cannot log in: a stack made
# when the password was chorus/chorus, or a rotated password, is brought in line in
# place. The server gets SCRAM-SHA-256 verifiers, never a password, and only on stdin.
setup_postgres() {
    local verifier ferret_verifier
    pg_locate
    verifier=$("${SECRETS[@]}" scram postgres) || die "could not make the PostgreSQL password"
    ferret_verifier=$("${SECRETS[@]}" scram postgres-ferretdb) ||
        die "could not make the PostgreSQL password of FerretDB's role"
    as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$POSTGRES_PORT" -U "$(pg_os_user)" -d postgres <<SQL
SELECT format('CREATE ROLE %I LOGIN CREATEDB', '$PG_APP_USER')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_APP_USER') \gexec
ALTER ROLE "$PG_APP_USER" LOGIN CREATEDB PASSWORD '$verifier';
SELECT format('CREATE DATABASE %I OWNER %I', '$PG_APP_DB', '$PG_APP_USER')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$PG_APP_DB') \gexec
SELECT format('CREATE ROLE %I LOGIN', '$FERRETDB_PG_USER')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$FERRETDB_PG_USER') \gexec
ALTER ROLE "$FERRETDB_PG_USER" LOGIN PASSWORD '$ferret_verifier';
SELECT format('CREATE DATABASE %I OWNER %I', '$FERRETDB_PG_DB', '$FERRETDB_PG_USER')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$FERRETDB_PG_DB') \gexec
REVOKE ALL ON DATABASE "$FERRETDB_PG_DB" FROM PUBLIC;
SQL
}

# FerretDB 1.24 keeps each collection in a table with one jsonb column, _jsonb, and hands
# PostgreSQL an equality filter as `_jsonb->'field' @> value`, which its own B-tree indexes
# cannot serve: every lookup read the whole table (a catalog entry by key: 19.3 ms at 2,100
# entries). A GIN index on that expression (jsonb_path_ops) serves it (0.14 ms). An event
# trigger gives every table FerretDB creates one per field the services look up by
# equality; existing tables get theirs here. Idempotent, on every `up`.
index_ferretdb() {
    pg_locate
    as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$POSTGRES_PORT" -U "$(pg_os_user)" \
        -d "$FERRETDB_PG_DB" <<'SQL'
CREATE OR REPLACE FUNCTION chorus_index_fields(tbl oid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE field text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = '_jsonb') THEN
        RETURN;
    END IF;
    FOREACH field IN ARRAY ARRAY['_id', 'key', 'document', 'owner', 'correlationid', 'service',
                                 'event_id', 'type', 'minute']
    LOOP
        EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s USING gin ((_jsonb->%L) jsonb_path_ops)',
                       'chorus_gin_' || tbl || '_' || field, tbl::regclass, field);
    END LOOP;
END $$;
CREATE OR REPLACE FUNCTION chorus_gin_index() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE created record;
BEGIN
    FOR created IN SELECT * FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE TABLE'
    LOOP
        PERFORM chorus_index_fields(created.objid);
    END LOOP;
END $$;
SELECT 'CREATE EVENT TRIGGER chorus_gin_index ON ddl_command_end WHEN TAG IN (''CREATE TABLE'') '
       'EXECUTE FUNCTION chorus_gin_index()'
 WHERE NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'chorus_gin_index') \gexec
SELECT chorus_index_fields(c.oid) FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = '_jsonb' WHERE c.relkind = 'r';
SQL
}

# --- ferretdb

# Real MongoDB {ping: 1} over the wire protocol (OP_MSG), stdlib Python only:
# there is no mongosh here, pymongo may not be installed yet, and `ferretdb ping`
# always authenticates (SCRAM-SHA-1, which FerretDB v1 + SQLite rejects).
# shellcheck disable=SC2016 # Python source, not shell
MONGO_PING_PY='
import socket, struct, sys
def cstr(s): return s.encode() + b"\0"
doc = b"\x10" + cstr("ping") + struct.pack("<i", 1) + b"\x02" + cstr("$db") + struct.pack("<i", 6) + b"admin\0"
doc = struct.pack("<i", len(doc) + 5) + doc + b"\0"
body = struct.pack("<I", 0) + b"\0" + doc
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=4)
s.sendall(struct.pack("<iiii", 16 + len(body), 1, 0, 2013) + body)
buf = b""
while len(buf) < 16 or len(buf) < struct.unpack("<i", buf[:4])[0]:
    chunk = s.recv(65536)
    if not chunk: sys.exit("connection closed")
    buf += chunk
if struct.unpack("<i", buf[12:16])[0] != 2013: sys.exit("not an OP_MSG reply")
if b"\x01ok\0" + struct.pack("<d", 1.0) not in buf and b"\x10ok\0" + struct.pack("<i", 1) not in buf:
    sys.exit("ping not ok")
'
python_bin() {
    if [[ -x /usr/bin/python3 ]]; then printf '/usr/bin/python3'; else command -v python3; fi
}
health_ferretdb() {
    local py
    if py=$(python_bin); then
        timeout 6 "$py" -c "$MONGO_PING_PY" "$1" >/dev/null 2>&1
    else
        port_open "$1"
    fi
}
kind_ferretdb() { health_ferretdb "$1"; }

ferretdb_ok() {
    [[ -x $FERRETDB_BIN ]] && [[ $("$FERRETDB_BIN" --version 2>/dev/null | head -n 1) == "version: $FERRETDB_VERSION" ]]
}

# FerretDB's command line, one argument a line, and a line for the password of its
# PostgreSQL role (start_ferretdb runs it and records it in run/ferretdb.conf, mode 600;
# `up` restarts a running FerretDB started with other arguments or another password).
# --handler=postgresql: its data in the stack's PostgreSQL, database ferretdb, as role
#   ferretdb (the password from PGPASSWORD, never on the command line). FerretDB 1.24 on
#   SQLite answers any filter but one on _id by reading the whole collection into
#   FerretDB (measured with 10,000 documents: 950 ms); on PostgreSQL, equality filters
#   run inside PostgreSQL (18 ms). See "FerretDB on PostgreSQL" in infra/README.md.
# --debug-addr=- : the metrics/pprof HTTP listener defaults to 127.0.0.1:8088,
#   which would make two stacks collide.
# --telemetry=disable : no phone-home (and no "undecided" nag in the log).
# --test-enable-new-auth: clients must log in (SCRAM-SHA-256) as a user FerretDB keeps in
#   admin.system.users; without it, FerretDB 1.x hands each client's own login to
#   PostgreSQL (see infra/README.md). --setup-*: the first start (no "admin" database yet)
#   creates the user chorus with mongo.json's password (FERRETDB_SETUP_PASSWORD, from
#   the environment: never on the command line).
config_ferretdb() {
    store_password postgres-ferretdb
    printf '%s\n' "$FERRETDB_BIN" --handler=postgresql \
        "--postgresql-url=postgres://$FERRETDB_PG_USER@127.0.0.1:$POSTGRES_PORT/$FERRETDB_PG_DB" \
        "--listen-addr=127.0.0.1:$MONGO_PORT" "--state-dir=$DATA_DIR/ferretdb" \
        --telemetry=disable --debug-addr=- --log-level=info \
        --test-enable-new-auth --setup-database=admin --setup-username=chorus
    printf '# role %s: password sha256 %s\n' "$FERRETDB_PG_USER" \
        "$(printf '%s' "${SECRET_CACHE[postgres-ferretdb]}" | sha256sum | cut -d' ' -f1)"
}

start_ferretdb() {
    local password
    local -a args
    store_password postgres-ferretdb
    mkdir -p "$DATA_DIR/ferretdb"
    rm -f -- "$RUN_DIR/ferretdb.conf"
    (umask 077 && config_ferretdb >"$RUN_DIR/ferretdb.conf")
    mapfile -t args < <(grep -v '^#' "$RUN_DIR/ferretdb.conf")
    password=$("${SECRETS[@]}" password mongo) || die "could not make the FerretDB password"
    FERRETDB_SETUP_PASSWORD=$password PGPASSWORD=${SECRET_CACHE[postgres-ferretdb]} \
        launch "$(pidfile_of ferretdb)" "$(logfile_of ferretdb)" "${args[@]}"
}

# FerretDB needs the stack's PostgreSQL, with its role: true when it takes the login.
ferretdb_backend_ready() {
    store_password postgres-ferretdb
    pg_login "$POSTGRES_PORT" "$FERRETDB_PG_USER" "$FERRETDB_PG_DB" "${SECRET_CACHE[postgres-ferretdb]}"
}

# Data of a stack made when FerretDB ran on SQLite: the .sqlite files of each database.
sqlite_leftovers() { compgen -G "$DATA_DIR/ferretdb/sqlite/*.sqlite" >/dev/null; }

# migrate_ferretdb PORT: copy what an older stack kept in data/ferretdb/sqlite into the
# running FerretDB on PORT, through a temporary SQLite FerretDB on a free port (stopped
# afterwards), then rename the folder to sqlite.migrated-<time> (kept: delete it once
# satisfied). On failure nothing is renamed and the next `up` tries again: documents
# already copied are left as they are.
migrate_ferretdb() {
    local port=$1 py=${CHORUS_PYTHON:-$REPO_ROOT/.venv/bin/python} spare pid rc=0 t0 old
    old=$DATA_DIR/ferretdb/sqlite
    [[ -x $py ]] || die "FerretDB now keeps its data in PostgreSQL; $old holds the data of the" \
        "SQLite one, and copying it needs the project's virtualenv: run 'make setup' and then" \
        "'$PROG up' again, or drop that data with: rm -rf '$old' (or '$PROG reset': everything)"
    t0=$(now_ms)
    say "ferretdb: copying the SQLite backend's data ($old) into the PostgreSQL one" >&2
    spare=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    store_password mongo
    pid=$(FERRETDB_SETUP_PASSWORD=${SECRET_CACHE[mongo]} launch "$RUN_DIR/ferretdb-sqlite.pid" \
        "$LOG_DIR/ferretdb-migrate.log" "$FERRETDB_BIN" --handler=sqlite \
        "--sqlite-url=file:$old/" "--listen-addr=127.0.0.1:$spare" \
        "--state-dir=$DATA_DIR/ferretdb/sqlite-state" --telemetry=disable --debug-addr=- \
        --log-level=warn --test-enable-new-auth --setup-database=admin --setup-username=chorus)
    CHORUS_MONGO_PASSWORD=${SECRET_CACHE[mongo]} timeout 3600 \
        "$py" "$INFRA_DIR/ferretdb_migrate.py" "$spare" "$port" >&2 || rc=$?
    stop_pid "$pid" "TERM:$STOP_TIMEOUT" || warn "the temporary SQLite FerretDB (pid $pid) did not stop"
    rm -f -- "$RUN_DIR/ferretdb-sqlite.pid"
    if ((rc)); then
        show_log_tail "$LOG_DIR/ferretdb-migrate.log" 10
        die "copying $old into FerretDB's PostgreSQL backend failed (it is kept as it was;" \
            "'$PROG up' tries again). To drop that data instead: rm -rf '$old'"
    fi
    mv -- "$old" "$old.migrated-$(date +%Y%m%dT%H%M%S)"
    rm -rf -- "$DATA_DIR/ferretdb/sqlite-state"
    say "ferretdb: copied in $(elapsed "$t0"); the old files are in $old.migrated-* (delete them when satisfied)" >&2
}

# After a start: the user in mongo.json can log in (a MongoDB driver is needed for
# SCRAM: the project's virtualenv; skipped without one). Catches a FerretDB whose
# user was created with another password (e.g. the credentials folder was replaced).
login_ferretdb() {
    local py=${CHORUS_PYTHON:-$REPO_ROOT/.venv/bin/python} url
    [[ -x $py ]] || return 0
    store_password mongo
    url="mongodb://chorus:${SECRET_CACHE[mongo]}@127.0.0.1:$1/admin?authSource=admin"
    # shellcheck disable=SC2016 # Python source
    CHORUS_MONGO_URL=$url timeout 20 "$py" -c '
import os, sys
try:
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure
except ImportError:
    sys.exit(0)
client = MongoClient(os.environ["CHORUS_MONGO_URL"], serverSelectionTimeoutMS=5000)
try:
    client.list_database_names()
except OperationFailure as error:
    sys.exit(f"cannot log in to FerretDB as chorus with the password in mongo.json: {error}")
'
}

# --- mailsink: an SMTP server keeping every mail in a Maildir (the notifier's
# local stand-in for a real mail server); needs the project's virtualenv.

health_mailsink() { # an SMTP greeting
    local py
    py=$(python_bin) || return 1
    timeout 5 "$py" -c 'import smtplib, sys; smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=4).quit()' "$1" >/dev/null 2>&1
}
kind_mailsink() { health_mailsink "$1"; }

start_mailsink() {
    local py=${CHORUS_PYTHON:-$REPO_ROOT/.venv/bin/python}
    [[ -x $py ]] || die "mailsink needs the project's virtualenv ($py): run 'make setup'"
    mkdir -p "$DATA_DIR/mail"
    # launch runs from /: the package is found through the editable install.
    launch "$(pidfile_of mailsink)" "$(logfile_of mailsink)" \
        "$py" -m services.notifier.mailsink --host 127.0.0.1 --port "$SMTP_PORT" \
        --maildir "$DATA_DIR/mail"
}

# ------------------------------------------------------------------ install

find_go() {
    if command -v go >/dev/null 2>&1; then
        command -v go
    elif [[ -x /usr/local/go/bin/go ]]; then
        printf '/usr/local/go/bin/go'
    else
        return 1
    fi
}

install_apt() {
    local p missing=()
    if ! command -v dpkg-query >/dev/null 2>&1; then
        for p in mosquitto mosquitto_pub redis-server redis-cli psql pg_isready; do
            command -v "$p" >/dev/null 2>&1 || die "no dpkg and '$p' not found: install ${APT_PACKAGES[*]} by hand"
        done
        return 0
    fi
    for p in "${APT_PACKAGES[@]}"; do
        [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    ((EUID == 0)) || die "missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
    say "install: apt-get install ${missing[*]}"
    apt-get update
    # Note: the postgresql package creates a "main" cluster on 5432; without
    # systemd it is not started, so it does not compete with ours.
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}

# FerretDB v1.24.2 via `go install` panics at start ("Invalid
# build/version/version.txt file content"): version.txt is generated from git by
# `task gen-version` and is not part of the module zip. So: download the module,
# copy it to a writable dir, write version.txt, go build.
install_ferretdb() {
    if ferretdb_ok; then
        return 0
    fi
    local go gover src t0
    go=$(find_go) || die "FerretDB $FERRETDB_VERSION must be built but 'go' was not found (PATH, /usr/local/go/bin). Install Go >= 1.21 from https://go.dev/dl (it fetches the Go 1.24 toolchain FerretDB needs by itself)."
    gover=$("$go" env GOVERSION)
    if [[ $gover =~ ^go1\.([0-9]+) ]] && ((BASH_REMATCH[1] < 21)); then
        die "$gover is too old to build FerretDB $FERRETDB_VERSION (needs Go >= 1.21 with toolchain download, or >= 1.24)"
    fi
    t0=$(now_ms)
    say "install: building FerretDB $FERRETDB_VERSION with $gover (first build takes ~1-2 min)"
    mkdir -p "$(dirname -- "$FERRETDB_BUILD_DIR")" "$(dirname -- "$FERRETDB_BIN")"
    src=$(cd "$(dirname -- "$FERRETDB_BUILD_DIR")" && GOFLAGS=-mod=mod GOWORK=off \
        "$go" mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
    [[ -n $src && -f $src/go.mod ]] || die "go mod download $FERRETDB_MODULE@$FERRETDB_VERSION failed"
    rm -rf -- "$FERRETDB_BUILD_DIR"
    cp -R -- "$src" "$FERRETDB_BUILD_DIR"
    chmod -R u+w -- "$FERRETDB_BUILD_DIR" # the module cache is read-only
    printf '%s\n' "$FERRETDB_VERSION" >"$FERRETDB_BUILD_DIR/build/version/version.txt"
    (cd "$FERRETDB_BUILD_DIR" && GOFLAGS=-buildvcs=false GOWORK=off \
        "$go" build -o "$FERRETDB_BIN.tmp.$$" ./cmd/ferretdb) || {
        rm -f -- "$FERRETDB_BIN.tmp.$$"
        die "go build of FerretDB failed"
    }
    mv -f -- "$FERRETDB_BIN.tmp.$$" "$FERRETDB_BIN"
    rm -rf -- "$FERRETDB_BUILD_DIR"
    ferretdb_ok || die "built $FERRETDB_BIN but '--version' does not report $FERRETDB_VERSION"
    say "install: FerretDB $FERRETDB_VERSION -> $FERRETDB_BIN ($(elapsed "$t0"))"
}

cmd_install() { # install [NAME...]
    local want_ferret=0 s
    for s in "$@"; do [[ $s == ferretdb ]] && want_ferret=1; done
    install_apt
    ((want_ferret)) && install_ferretdb
    return 0
}

# ------------------------------------------------------------------ commands

parse_names() { # fills NAMES from args (default: all)
    NAMES=()
    local a s ok
    for a in "$@"; do
        ok=0
        for s in "${ALL_SERVERS[@]}"; do [[ $a == "$s" ]] && ok=1; done
        ((ok)) || die "unknown server '$a' (expected: ${ALL_SERVERS[*]})"
        NAMES+=("$a")
    done
    ((${#NAMES[@]})) || NAMES=("${ALL_SERVERS[@]}")
}

cmd_up() {
    parse_names "$@"
    check_port_var MQTT_PORT "$MQTT_PORT"
    check_port_var REDIS_PORT "$REDIS_PORT"
    check_port_var POSTGRES_PORT "$POSTGRES_PORT"
    check_port_var MONGO_PORT "$MONGO_PORT"
    [[ $MQTTS_PORT == 0 ]] || check_port_var MQTTS_PORT "$MQTTS_PORT"
    take_lock
    [[ -s $DATA_DIR/credentials-dir ]] || printf '%s\n' "$CREDENTIALS_DIR" >"$DATA_DIR/credentials-dir"
    cmd_install "${NAMES[@]}"

    # Phase 1: decide and launch (servers start in parallel).
    local s port pid stale
    declare -A STATE=() T0=() PID=()
    for s in "${NAMES[@]}"; do
        port=$(server_port "$s")
        T0[$s]=$(now_ms)
        stale=$(cat -- "$(pidfile_of "$s")" 2>/dev/null) || stale=
        if pid=$(our_pid "$s"); then
            local was
            was=$(running_port "$s")
            [[ $was == "$port" ]] || die "$s from $STACK_DIR is already running on port $was, not $port (run '$PROG down $s' first)"
            STATE[$s]=running
            PID[$s]=$pid
            if config_changed "$s"; then
                say "$s: started with another configuration (a TLS listener, a password, a rotated secret...): restarting it" >&2
                stop_pid "$pid" "$(server_stop_signals "$s")" || die "could not stop $s (pid $pid)"
                if [[ $s == ferretdb ]]; then
                    STATE[$s]=restart-pending # once PostgreSQL is (phase 2)
                else
                    PID[$s]=$("start_$s")
                    STATE[$s]=restarted
                fi
            fi
        elif port_open "$port"; then
            if "kind_$s" "$port"; then
                STATE[$s]=external
            else
                die "port $port (127.0.0.1) is in use by something that is not $s$(port_owner "$port"); stop it or set $(port_env "$s")"
            fi
        else
            [[ -z $stale ]] || kill_group_leftovers "$stale" "$(server_match "$s")"
            if [[ $s == ferretdb ]]; then
                STATE[$s]=start-pending # once PostgreSQL is (phase 2)
            else
                PID[$s]=$("start_$s")
                printf '%s\n' "$port" >"$RUN_DIR/$s.port"
                STATE[$s]=started
            fi
        fi
    done

    # Phase 2: wait until each is healthy (bounded).
    local failed=0 deadline log ok
    for s in "${NAMES[@]}"; do
        port=$(server_port "$s")
        log=$(logfile_of "$s")
        if [[ ${STATE[$s]} == *-pending ]]; then
            # FerretDB keeps its data in PostgreSQL (healthy by now, when it was named).
            if ! ferretdb_backend_ready; then
                printf '%s: error: %s needs the PostgreSQL on 127.0.0.1:%s with role %s: ' \
                    "$PROG" "$s" "$POSTGRES_PORT" "$FERRETDB_PG_USER" >&2
                printf "start it first ('%s up postgres %s')\n" "$PROG" "$s" >&2
                failed=1
                continue
            fi
            T0[$s]=$(now_ms)
            PID[$s]=$("start_$s")
            printf '%s\n' "$port" >"$RUN_DIR/$s.port"
            if [[ ${STATE[$s]} == restart-pending ]]; then STATE[$s]=restarted; else STATE[$s]=started; fi
        fi
        deadline=$((T0[$s] + START_TIMEOUT * 1000))
        ok=0
        while :; do
            if [[ $s == postgres && ${STATE[$s]} != external ]]; then
                # setup only when a role cannot log in (new, or another password)
                ready_postgres "$port" && { roles_postgres "$port" ||
                    { setup_postgres >>"$log" 2>&1 && roles_postgres "$port"; }; } &&
                    index_ferretdb >>"$log" 2>&1 && ok=1
            else
                "health_$s" "$port" && ok=1
            fi
            ((ok)) && break
            if [[ ${STATE[$s]} != external ]] && ! proc_alive "${PID[$s]}"; then
                printf '%s: error: %s exited during startup\n' "$PROG" "$s" >&2
                break
            fi
            if (($(now_ms) >= deadline)); then
                printf '%s: error: %s not healthy on 127.0.0.1:%s after %ss\n' "$PROG" "$s" "$port" "$START_TIMEOUT" >&2
                break
            fi
            sleep 0.1
        done
        if ((!ok)); then
            failed=1
            if [[ ${STATE[$s]} == external ]]; then
                printf '%s: the server on port %s was not started by this script (external); ' "$PROG" "$port" >&2
                [[ $s == postgres ]] && printf 'role %s/database %s missing or wrong password? ' "$PG_APP_USER" "$PG_APP_DB" >&2
                printf 'stop it or set %s\n' "$(port_env "$s")" >&2
            else
                show_log_tail "$log"
            fi
            continue
        fi
        if [[ $s == ferretdb && ${STATE[$s]} == *started ]] && ! login_ferretdb "$port"; then
            printf '%s: FerretDB keeps the user it created at its first start with authentication; ' "$PROG" >&2
            printf 'see "Rotating" in infra/README.md\n' >&2
            failed=1
            continue
        fi
        if [[ $s == ferretdb && ${STATE[$s]} != external ]] && sqlite_leftovers; then
            migrate_ferretdb "$port"
        fi
        if [[ $s == mosquitto && ${STATE[$s]} != external ]] && (($(running_tls_port))); then
            port="$port (TLS: $(running_tls_port))"
        fi
        case ${STATE[$s]} in
            started | restarted) printf '%-9s 127.0.0.1:%-5s %s (pid %s), healthy in %s\n' "$s" "$port" "${STATE[$s]}" "${PID[$s]}" "$(elapsed "${T0[$s]}")" ;;
            running) printf '%-9s 127.0.0.1:%-5s already running (pid %s), healthy\n' "$s" "$port" "${PID[$s]}" ;;
            external) printf '%-9s 127.0.0.1:%-5s EXTERNAL server (not started by this script, reused), healthy\n' "$s" "$port" ;;
        esac
    done
    ((!failed)) || die "stack not healthy (logs: $LOG_DIR)"
}

# config_changed NAME: our running NAME was started with another generated configuration
# than it would get now (servers with a config_NAME function only).
config_changed() {
    declare -F "config_$1" >/dev/null || return 1
    local now
    now=$("config_$1") || die "could not make the configuration of $1"
    [[ $now != "$(cat -- "$RUN_DIR/$1.conf" 2>/dev/null)" ]]
}

port_env() {
    case $1 in
        mosquitto) printf 'MQTT_PORT' ;;
        redis) printf 'REDIS_PORT' ;;
        postgres) printf 'POSTGRES_PORT' ;;
        ferretdb) printf 'MONGO_PORT' ;;
        mailsink) printf 'SMTP_PORT' ;;
    esac
}

cmd_down() {
    parse_names "$@"
    take_lock
    local i s pid port rc=0
    for ((i = ${#NAMES[@]} - 1; i >= 0; i--)); do
        s=${NAMES[i]}
        if pid=$(our_pid "$s"); then
            port=$(running_port "$s")
            if stop_pid "$pid" "$(server_stop_signals "$s")"; then
                printf '%-9s 127.0.0.1:%-5s stopped (pid %s)\n' "$s" "$port" "$pid"
                rm -f -- "$(pidfile_of "$s")" "$RUN_DIR/$s.port" "$RUN_DIR/$s.tls-port"
            else
                printf '%-9s 127.0.0.1:%-5s FAILED to stop pid %s\n' "$s" "$port" "$pid" >&2
                rc=1
            fi
        else
            port=$(server_port "$s")
            if port_open "$port"; then
                printf '%-9s 127.0.0.1:%-5s not started by this script (port in use by another process), left alone\n' "$s" "$port"
            else
                printf '%-9s 127.0.0.1:%-5s not running\n' "$s" "$port"
            fi
        fi
    done
    return "$rc"
}

cmd_status() {
    local check=0 a args=()
    for a in "$@"; do
        if [[ $a == --check ]]; then check=1; else args+=("$a"); fi
    done
    parse_names "${args[@]+"${args[@]}"}"
    local s port pid healthy all=1
    printf '%-10s %-6s %-9s %s\n' NAME PORT PID HEALTHY
    for s in "${NAMES[@]}"; do
        if pid=$(our_pid "$s"); then
            port=$(running_port "$s")
        else
            port=$(server_port "$s")
            if port_open "$port"; then pid=external; else pid=-; fi
        fi
        healthy=no
        if [[ $pid != - ]] && "health_$s" "$port"; then healthy=yes; fi
        [[ $healthy == yes ]] || all=0
        printf '%-10s %-6s %-9s %s\n' "$s" "$port" "$pid" "$healthy"
    done
    printf 'state: %s\n' "$STACK_DIR"
    if ((check && !all)); then return 1; fi
    return 0
}

cmd_logs() {
    local follow=0 a names=() files=()
    for a in "$@"; do
        case $a in
            -f | --follow) follow=1 ;;
            *) names+=("$a") ;;
        esac
    done
    ((${#names[@]})) || names=("${ALL_SERVERS[@]}")
    for a in "${names[@]}"; do
        # Servers, or any other log in .stack/logs (e.g. svc-journal-0).
        if [[ -f $LOG_DIR/$a.log ]]; then
            files+=("$LOG_DIR/$a.log")
        else
            warn "no log $LOG_DIR/$a.log"
        fi
    done
    ((${#files[@]})) || return 0
    if ((follow)); then
        exec tail -n 50 -F -- "${files[@]}"
    fi
    tail -n 50 -- "${files[@]}"
}

cmd_reset() {
    (($# == 0)) || die "reset takes no arguments"
    cmd_down
    local link=$DATA_DIR/postgres target
    if [[ -L $link ]]; then
        target=$(readlink -- "$link")
        rm -rf -- "$(dirname -- "$target")"
    fi
    rm -rf -- "$DATA_DIR"
    rm -rf -- "/tmp/chorus-pg-$(stack_hash)"
    say "deleted $DATA_DIR"
}

# rotate SECRET...: a new password (redis, postgres, mongo) or new CA and server
# certificate (tls), applied to this stack's servers. Clients read them when they
# connect: restart the services afterwards (infra/services.sh restart).
cmd_rotate() {
    (($#)) || die "rotate what? redis, postgres, postgres-ferretdb, mongo or tls"
    local secret
    for secret in "$@"; do
        case $secret in
            redis | postgres)
                rm -f -- "$CREDENTIALS_DIR/$secret.json"
                cmd_up "$secret" # Redis: new configuration, restarted; PostgreSQL: ALTER ROLE
                ;;
            postgres-ferretdb)
                rm -f -- "$CREDENTIALS_DIR/$secret.json"
                cmd_up postgres ferretdb # ALTER ROLE ferretdb; FerretDB restarted with it
                ;;
            tls)
                rm -rf -- "$TLS_DIR"
                cmd_up mosquitto # a new server certificate: restarted
                ;;
            mongo)
                # FerretDB keeps its user: the old password changes it (updateUser).
                our_pid ferretdb >/dev/null || die "rotate mongo: FerretDB of $STACK_DIR is not running"
                "${SECRETS_ENV[@]}" "${CHORUS_PYTHON:-$REPO_ROOT/.venv/bin/python}" \
                    "$INFRA_DIR/stack_secrets.py" rotate-mongo "$(running_port ferretdb)" ||
                    die "rotate mongo failed"
                ;;
            *) die "unknown secret '$secret' (expected: redis postgres postgres-ferretdb mongo tls)" ;;
        esac
        say "rotated $secret; restart what uses it: infra/services.sh restart"
    done
}

usage() {
    sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

main() {
    local cmd=${1:-}
    (($#)) && shift
    case $cmd in
        install)
            parse_names "$@"
            cmd_install "${NAMES[@]}"
            ;;
        up | start) cmd_up "$@" ;;
        down | stop) cmd_down "$@" ;;
        status) cmd_status "$@" ;;
        logs) cmd_logs "$@" ;;
        reset) cmd_reset "$@" ;;
        rotate) cmd_rotate "$@" ;;
        -h | --help | help) usage ;;
        '')
            usage >&2
            exit 2
            ;;
        *) die "unknown command '$cmd' (try --help)" ;;
    esac
}

main "$@"
