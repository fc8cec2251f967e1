#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Run the Chorus Python services in the background under supervisord, one
# supervised process per replica: a replica that dies is restarted.
#
#   infra/services.sh up [NAME...]       start missing replicas, wait until each is ready
#   infra/services.sh down [NAME...]     stop replicas (no NAME: all, and their supervisord)
#   infra/services.sh restart [NAME...]  down + up
#   infra/services.sh status [--check] [NAME...]   pid, alive, ready, uptime, restarts
#   infra/services.sh logs [-f] [NAME...]
#
# infra/services.txt lists "NAME [REPLICAS]" per line (# comments, default 1).
# Replica i (0-based) runs, from the repo root:
#   $BUS_BIN run NAME --instance i --ops-port 0 --ready-file .stack/run/svc-NAME-i.ready
# with log .stack/logs/svc-NAME-i.log and pidfile .stack/run/svc-NAME-i.pid.
# The service creates the ready file once connected and subscribed and removes
# it on exit. The environment of `up` (MQTT_PORT, BUS_*, ...) is passed through.
# --ops-port 0: each replica serves /healthz, /readyz and /metrics on a free
# loopback port, which its presence names (`bus services --json`, the console).
#
# The web console runs beside them (`up` without NAMEs starts it, `status` prints
# its address and where its login is, `down` stops it), on loopback:
#   $BUS_BIN console --port $CHORUS_CONSOLE_PORT --ready-file .stack/run/console.ready
# CHORUS_CONSOLE_PORT: 8700 by default, 0 for a free one, "off" for no console. A
# second set of services (SERVICES_STATE_DIR, below) runs none unless it is set:
# the usual set's console holds 8700. The console writes its URL, then the folder
# of the ops password, into its ready file.
#
# Environment: BUS_BIN (default <repo>/.venv/bin/bus; supervisord and
# supervisorctl are taken from the same folder, else from PATH), SERVICES_FILE
# (default infra/services.txt), CHORUS_STACK_DIR, SERVICES_READY_TIMEOUT (30 s),
# SERVICES_STOP_TIMEOUT (10 s: SIGINT, then SIGKILL to the replica's group).
# A second set of services next to the usual one (a test's, in its own
# BUS_NAMESPACE and databases) sets SERVICES_STATE_DIR, for up, status and down
# alike: its run/ (pidfiles, ready files, lock, supervisord's config and socket)
# and logs/ instead of those of the stack dir, and a supervisord of its own.
set -euo pipefail

# Supervision. `up` writes run/supervisord.conf from services.txt (one
# [program:svc-NAME-i] per replica, plus the [eventlistener:restarts] that counts
# restarts, see infra/restart_counter.py) and starts supervisord with it if it is
# not running yet: in the foreground of its own session (launch, like the stack's
# servers), socket run/supervisor.sock, pidfile run/supervisord.pid, log
# logs/supervisord.log. supervisord gets the environment of that `up`, and every
# replica it starts, or restarts, inherits it. When supervisord already runs, `up`
# rewrites the config and applies it with `supervisorctl reread` + `update`: new
# replicas start, replicas no longer listed stop, changed ones restart; a replica
# that supervisord gave up on (FATAL) or that was stopped is started again.
# supervisord runs each replica through `services.sh exec-replica`, which removes
# the stale ready file, writes the pidfile and the "===== starting" log line, then
# execs the service (same pid).
#
# Restart schedule (supervisord's own backoff, with the values below):
# * a replica that dies after running STARTSECS (10 s) is restarted at once, at
#   supervisord's next tick: it wakes at least once a second (measured: 0.04 to
#   1.05 s from a SIGKILL to the new process);
# * one that dies sooner ("exited too quickly", BACKOFF) is started again after
#   1 s, then 2 s, 3 s, ...: the n-th failure in a row waits n s (measured from
#   the exit: 1.23, 2.00, 3.00, 4.01, 5.01, 6.01, 7.02, 8.01, 9.01 s), plus up
#   to 1 s when supervisord notices a SIGKILL only at its next tick;
# * after STARTRETRIES (100) failures in a row, about 1 h 25 min of crashing
#   (1 + 2 + ... + 100 s), supervisord gives up: the replica is FATAL in
#   `status`, and the next `up` starts it again. Staying up STARTSECS resets
#   the delay to 1 s.
# So a replica that keeps dying late is restarted at most once per STARTSECS, one
# that keeps dying early waits longer each time, and a service that cannot start
# until a server comes back is retried for well over an hour.
STARTSECS=10
STARTRETRIES=100

PROG=services.sh
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

BUS_BIN=${BUS_BIN:-$REPO_ROOT/.venv/bin/bus}
case $BUS_BIN in
    /*) ;;
    *) BUS_BIN=$PWD/$BUS_BIN ;; # the Makefile passes .venv/bin/bus
esac
[[ -z ${SERVICES_STATE_DIR:-} ]] || set_state_dir "$SERVICES_STATE_DIR"
SERVICES_FILE=${SERVICES_FILE:-$INFRA_DIR/services.txt}
READY_TIMEOUT=${SERVICES_READY_TIMEOUT:-30}
STOP_TIMEOUT=${SERVICES_STOP_TIMEOUT:-10}
[[ $READY_TIMEOUT =~ ^[0-9]+$ ]] || die "SERVICES_READY_TIMEOUT must be a number of seconds, got '$READY_TIMEOUT'"
[[ $STOP_TIMEOUT =~ ^[0-9]+$ ]] || die "SERVICES_STOP_TIMEOUT must be a number of seconds, got '$STOP_TIMEOUT'"
if [[ -n ${SERVICES_STATE_DIR:-} ]]; then
    CONSOLE_PORT=${CHORUS_CONSOLE_PORT:-off}
else
    CONSOLE_PORT=${CHORUS_CONSOLE_PORT:-8700}
fi
[[ $CONSOLE_PORT == off ]] || { [[ $CONSOLE_PORT =~ ^[0-9]{1,5}$ ]] && ((10#$CONSOLE_PORT <= 65535)); } ||
    die "CHORUS_CONSOLE_PORT must be a port number (0: a free one) or 'off', got '$CONSOLE_PORT'"

SUP_CONF=$RUN_DIR/supervisord.conf
SUP_PIDFILE=$RUN_DIR/supervisord.pid
SUP_LOG=$LOG_DIR/supervisord.log
SUP_SOCK=$RUN_DIR/supervisor.sock
if ((${#SUP_SOCK} > 100)); then # AF_UNIX paths are limited to ~107 bytes
    SUP_SOCK=/tmp/chorus-supervisor-$(printf '%s' "$RUN_DIR" | sha1sum | cut -c1-16).sock
fi
# The supervisord state of every svc-* program it has loaded (load_states).
declare -A SUP_STATE=()
# The console's program, its files, and its supervisord state (load_states; empty:
# supervisord does not run it).
CONSOLE_ID=console
CONSOLE_READY=$RUN_DIR/console.ready
CONSOLE_PIDFILE=$RUN_DIR/console.pid
CONSOLE_LOG=$LOG_DIR/console.log
CONSOLE_STATE=''

# Fills SVC_NAMES / SVC_REPLICAS from services.txt.
read_services() {
    SVC_NAMES=()
    SVC_REPLICAS=()
    [[ -f $SERVICES_FILE ]] || die "no $SERVICES_FILE"
    local line name reps extra n=0
    while IFS= read -r line || [[ -n $line ]]; do
        n=$((n + 1))
        line=${line%%#*}
        read -r name reps extra <<<"$line" || true
        [[ -n ${name:-} ]] || continue
        [[ -z ${extra:-} ]] || die "$SERVICES_FILE:$n: expected 'NAME [REPLICAS]'"
        [[ $name =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || die "$SERVICES_FILE:$n: bad service name '$name'"
        reps=${reps:-1}
        [[ $reps =~ ^[0-9]+$ ]] || die "$SERVICES_FILE:$n: bad replica count '$reps'"
        SVC_NAMES+=("$name")
        SVC_REPLICAS+=("$((10#$reps))")
    done <"$SERVICES_FILE"
}

# select_services NAME... -> SEL (indexes into SVC_*); default: all.
select_services() {
    SEL=()
    local a i found
    if (($# == 0)); then
        for i in "${!SVC_NAMES[@]}"; do SEL+=("$i"); done
        return
    fi
    for a in "$@"; do
        found=0
        for i in "${!SVC_NAMES[@]}"; do
            if [[ ${SVC_NAMES[i]} == "$a" ]]; then
                SEL+=("$i")
                found=1
            fi
        done
        ((found)) || die "service '$a' is not in $SERVICES_FILE"
    done
}

inst_id() { printf 'svc-%s-%s' "$1" "$2"; }
ready_file() { printf '%s/%s.ready' "$RUN_DIR" "$(inst_id "$1" "$2")"; }
pid_file() { printf '%s/%s.pid' "$RUN_DIR" "$(inst_id "$1" "$2")"; }
restarts_file() { printf '%s/%s.restarts' "$RUN_DIR" "$(inst_id "$1" "$2")"; }
# svc-NAME-i -> "NAME i"
split_id() {
    local base=${1#svc-}
    printf '%s %s' "${base%-*}" "${base##*-}"
}

# inst_pid NAME I -> the pid of the running replica, from its pidfile. Identity
# check: the command line carries the ready-file path. Unlike pidfile_pid, it
# never deletes the pidfile: supervisord may be writing a new one right now.
inst_pid() {
    local f pid
    f=$(pid_file "$1" "$2")
    [[ -f $f ]] || return 1
    pid=$(<"$f") || return 1
    proc_alive "$pid" && proc_cmdline_has "$pid" "--ready-file $(ready_file "$1" "$2")" || return 1
    printf '%s' "$pid"
}

# console_pid -> the pid of the running console (identity check as inst_pid).
console_pid() {
    local pid
    [[ -f $CONSOLE_PIDFILE ]] || return 1
    pid=$(<"$CONSOLE_PIDFILE") || return 1
    proc_alive "$pid" && proc_cmdline_has "$pid" "--ready-file $CONSOLE_READY" || return 1
    printf '%s' "$pid"
}

# --- supervisord ---------------------------------------------------------------

# Sets SUPERVISORD, SUPERVISORCTL and PYTHON_BIN (for the event listener).
find_supervisor() {
    local dir
    dir=$(dirname -- "$BUS_BIN")
    if [[ -x $dir/supervisord && -x $dir/supervisorctl ]]; then
        SUPERVISORD=$dir/supervisord
        SUPERVISORCTL=$dir/supervisorctl
    elif SUPERVISORD=$(command -v supervisord) && SUPERVISORCTL=$(command -v supervisorctl); then
        :
    else
        die "supervisord not found next to $BUS_BIN nor on PATH (pyproject.toml requires supervisor: run 'make setup')"
    fi
    if [[ -x $dir/python ]]; then PYTHON_BIN=$dir/python; else PYTHON_BIN=$(command -v python3) || die "no python3"; fi
}

ctl() { "$SUPERVISORCTL" -c "$SUP_CONF" "$@"; }

# The pid of this state dir's supervisord, if it runs.
sup_pid() { pidfile_pid "$SUP_PIDFILE" "-c $SUP_CONF"; }

# Fills SUP_STATE[svc-NAME-i]=STATE from `supervisorctl status`; fails (with a
# message) when supervisorctl cannot tell.
load_states() {
    SUP_STATE=()
    CONSOLE_STATE=''
    local out name state _ rc=0
    out=$(ctl status 2>&1) || rc=$?
    # Exit status 3 when some program is not RUNNING, 4 when it cannot connect.
    if ((rc != 0 && rc != 3)); then
        warn "supervisorctl status failed (exit status $rc): $out"
        return 1
    fi
    while read -r name state _; do
        [[ $state =~ ^(STOPPED|STARTING|RUNNING|BACKOFF|STOPPING|EXITED|FATAL|UNKNOWN)$ ]] || continue
        if [[ $name == svc-* ]]; then
            SUP_STATE[$name]=$state
        elif [[ $name == "$CONSOLE_ID" ]]; then
            CONSOLE_STATE=$state
        fi
    done <<<"$out"
}

# supervisord splits a command line with shlex and expands %(...)s; ";" after a
# blank starts a comment. Paths that need none of that quoting are required.
check_conf_word() {
    [[ $1 =~ ^[A-Za-z0-9_./+,@:=-]+$ ]] || die "unsupported character in path for supervisord's config: '$1'"
}

# program_conf ID LOG COMMAND...: one [program:ID] section, run through exec-replica.
program_conf() {
    local id=$1 log=$2
    shift 2
    cat <<CONF

[program:$id]
command=$BASH $INFRA_DIR/services.sh exec-replica $*
directory=$REPO_ROOT
autostart=true
autorestart=true
startsecs=$STARTSECS
startretries=$STARTRETRIES
stopsignal=INT
stopwaitsecs=$STOP_TIMEOUT
killasgroup=true
redirect_stderr=true
stdout_logfile=$log
stdout_logfile_maxbytes=0
stdout_logfile_backups=0
CONF
}

# write_conf "NAME I"...: supervisord's config with one program per replica, and
# the console's unless CONSOLE_PORT is off.
write_conf() {
    local w entry name r id rf
    for w in "$REPO_ROOT" "$INFRA_DIR" "$BUS_BIN" "$RUN_DIR" "$LOG_DIR" "$SUP_SOCK" "$BASH" "$PYTHON_BIN"; do
        check_conf_word "$w"
    done
    {
        cat <<CONF
; Written by infra/services.sh up, from $SERVICES_FILE: the next 'up' rewrites it.
[supervisord]
nodaemon=true
$( ((EUID)) || echo "user=root")
silent=true
logfile=$SUP_LOG
logfile_maxbytes=10MB
logfile_backups=3
pidfile=$SUP_PIDFILE
childlogdir=$LOG_DIR

[unix_http_server]
file=$SUP_SOCK
chmod=0700

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://$SUP_SOCK

[eventlistener:restarts]
command=$PYTHON_BIN $INFRA_DIR/restart_counter.py $RUN_DIR
events=PROCESS_STATE
buffer_size=1000
priority=1
autorestart=true
stdout_logfile=NONE
stderr_logfile=$LOG_DIR/supervisord-restarts.log
stderr_logfile_maxbytes=1MB
CONF
        for entry in "$@"; do
            read -r name r <<<"$entry"
            id=$(inst_id "$name" "$r")
            rf=$(ready_file "$name" "$r")
            program_conf "$id" "$LOG_DIR/$id.log" "$(pid_file "$name" "$r")" "$rf" \
                "$BUS_BIN" run "$name" --instance "$r" --ops-port 0 --ready-file "$rf"
        done
        if [[ $CONSOLE_PORT != off ]]; then
            program_conf "$CONSOLE_ID" "$CONSOLE_LOG" "$CONSOLE_PIDFILE" "$CONSOLE_READY" \
                "$BUS_BIN" console --port "$CONSOLE_PORT" --ready-file "$CONSOLE_READY"
        fi
    } >"$SUP_CONF.tmp"
    mv -f -- "$SUP_CONF.tmp" "$SUP_CONF"
}

# drop_from_conf ID...: remove these [program:ID] sections from the config, so
# that a later reread does not see them as new.
drop_from_conf() {
    [[ -f $SUP_CONF ]] || return 0
    awk -v drop=" $* " '
        /^\[/ {
            skip = 0
            if ($0 ~ /^\[program:/ && index(drop, " " substr($0, 10, length($0) - 10) " ")) skip = 1
        }
        !skip' "$SUP_CONF" >"$SUP_CONF.tmp"
    mv -f -- "$SUP_CONF.tmp" "$SUP_CONF"
}

start_supervisord() {
    local pid deadline
    rm -f -- "$SUP_SOCK"
    pid=$(launch "$SUP_PIDFILE" "$SUP_LOG" "$SUPERVISORD" -c "$SUP_CONF")
    deadline=$(($(now_ms) + 15000))
    until [[ -S $SUP_SOCK ]] && ctl pid >/dev/null 2>&1; do
        if ! proc_alive "$pid"; then
            show_log_tail "$SUP_LOG" 30
            die "supervisord exited while starting"
        fi
        if (($(now_ms) >= deadline)); then
            show_log_tail "$SUP_LOG" 30
            die "supervisord (pid $pid) does not answer on $SUP_SOCK after 15 s"
        fi
        sleep 0.1
    done
    printf '%-24s started (pid %s), config %s\n' supervisord "$pid" "$SUP_CONF"
}

# stop_supervisord PID: supervisord stops every replica (SIGINT, SIGKILL after
# stopwaitsecs) and the listener, then exits.
stop_supervisord() {
    local pid=$1
    ctl shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" $((STOP_TIMEOUT + 15)); then
        warn "supervisord (pid $pid) still running $((STOP_TIMEOUT + 15)) s after shutdown"
        stop_pid "$pid" "TERM:5" || true
    fi
    rm -f -- "$SUP_SOCK"
}

# warn_env_differs PID: the replicas supervisord starts get its environment,
# which was that of the `up` that started it; say so if it is not this one.
warn_env_differs() {
    local kv name differ=()
    declare -A theirs=()
    [[ -r /proc/$1/environ ]] || return 0
    while IFS= read -r -d '' kv; do
        theirs[${kv%%=*}]=${kv#*=}
    done <"/proc/$1/environ"
    relevant() {
        [[ $1 != BUS_BIN ]] &&
            [[ $1 =~ ^(BUS|GATEWAY|ACCOUNTS|INSPECTOR|NOTIFIER|EXPORTER|STORAGE|OTEL)_ || $1 == *_PORT || $1 == PYTHONPATH ]]
    }
    for name in $(compgen -e); do
        relevant "$name" || continue
        if [[ -z ${theirs[$name]+x} || ${theirs[$name]} != "${!name}" ]]; then differ+=("$name"); fi
    done
    for name in "${!theirs[@]}"; do
        relevant "$name" || continue
        [[ -n ${!name+x} ]] || differ+=("$name")
    done
    ((${#differ[@]} == 0)) ||
        warn "supervisord (pid $1) was started with another ${differ[*]}: replicas it starts or restarts get its environment; '$PROG down' then '$PROG up' applies this one"
}

# --- commands -------------------------------------------------------------------

cmd_up() {
    read_services
    select_services "$@"
    take_lock
    [[ -x $BUS_BIN ]] || die "bus executable not found: $BUS_BIN (create the venv first, or set BUS_BIN)"
    find_supervisor
    # Each service logs in to the broker as itself, with the rights its declarations give
    # it: create what is missing and put the rules in force before anything connects.
    (cd "$REPO_ROOT" && "$BUS_BIN" credentials apply --services-file "$SERVICES_FILE") ||
        die "could not apply the broker credentials"

    local i r name id pid sup t0 line kind group
    local -a sel=() conf=() groups=() again=() gone=()
    declare -A selected=() keep=() touched=()
    for i in "${SEL[@]}"; do
        selected[${SVC_NAMES[i]}]=1
        for ((r = 0; r < SVC_REPLICAS[i]; r++)); do sel+=("${SVC_NAMES[i]} $r"); done
    done
    t0=$(now_ms)
    if sup=$(sup_pid); then
        warn_env_differs "$sup"
        load_states || die "cannot ask supervisord (pid $sup) what it runs; '$PROG down' stops it"
    fi

    # Replicas running without a supervisord that knows them (supervisord was
    # killed, or they were started before services.sh used it) would run twice.
    while read -r name r; do
        id=$(inst_id "$name" "$r")
        [[ -z ${SUP_STATE[$id]:-} ]] || continue
        if pid=$(inst_pid "$name" "$r"); then stop_unsupervised "$id" "$pid"; fi
    done < <(pidfile_instances)
    if [[ -z $CONSOLE_STATE ]] && pid=$(console_pid); then stop_unsupervised "$CONSOLE_ID" "$pid"; fi

    # The config lists the selected services and those supervisord already runs
    # (if still in services.txt), with the replica counts of services.txt.
    for id in "${!SUP_STATE[@]}"; do
        read -r name _ <<<"$(split_id "$id")"
        keep[$name]=1
    done
    for i in "${!SVC_NAMES[@]}"; do
        name=${SVC_NAMES[i]}
        [[ -n ${selected[$name]:-}${keep[$name]:-} ]] || continue
        for ((r = 0; r < SVC_REPLICAS[i]; r++)); do conf+=("$name $r"); done
    done
    write_conf "${conf[@]+"${conf[@]}"}"

    if [[ -z ${sup:-} ]]; then
        for line in "${conf[@]}"; do
            read -r name r <<<"$line"
            rm -f -- "$(ready_file "$name" "$r")" "$(pid_file "$name" "$r")" "$(restarts_file "$name" "$r")"
            touched[$(inst_id "$name" "$r")]=1
        done
        if [[ $CONSOLE_PORT != off ]]; then
            rm -f -- "$CONSOLE_READY" "$CONSOLE_PIDFILE" "$RUN_DIR/$CONSOLE_ID.restarts"
            touched[$CONSOLE_ID]=1
        fi
        start_supervisord # autostart: it starts every replica (and the console) at once
    else
        # reread prints "GROUP: available|changed|disappeared". Without NAMEs all
        # of it is applied, else only what concerns the selected services.
        while IFS=': ' read -r group kind; do
            [[ -n $kind && $kind != *' '* ]] || continue # "No config updates to processes"
            if [[ $group == svc-* ]]; then
                read -r name _ <<<"$(split_id "$group")"
                (($# == 0)) || [[ -n ${selected[$name]:-} ]] || continue
            else
                (($# == 0)) || continue # the event listener
            fi
            groups+=("$group")
            if [[ $group == "$CONSOLE_ID" ]]; then
                case $kind in
                    available | changed)
                        rm -f -- "$CONSOLE_READY" "$CONSOLE_PIDFILE"
                        touched[$CONSOLE_ID]=1
                        ;;
                    disappeared) gone+=("$group") ;;
                esac
                continue
            fi
            [[ $group == svc-* ]] || continue
            case $kind in
                available | changed)
                    read -r name r <<<"$(split_id "$group")"
                    rm -f -- "$(ready_file "$name" "$r")" "$(pid_file "$name" "$r")"
                    touched[$group]=1
                    ;;
                disappeared) gone+=("$group") ;;
            esac
        done < <(ctl reread)
        if ((${#groups[@]})); then
            ctl update "${groups[@]}" >/dev/null || die "supervisorctl update ${groups[*]} failed"
        fi
        for id in "${gone[@]+"${gone[@]}"}"; do
            if [[ $id == "$CONSOLE_ID" ]]; then
                if pid=$(console_pid); then
                    printf '%-24s FAILED to stop pid %s (CHORUS_CONSOLE_PORT=off)\n' "$id" "$pid" >&2
                else
                    printf '%-24s stopped: CHORUS_CONSOLE_PORT=off\n' "$id"
                    rm -f -- "$CONSOLE_PIDFILE" "$CONSOLE_READY"
                fi
                continue
            fi
            read -r name r <<<"$(split_id "$id")"
            if pid=$(inst_pid "$name" "$r"); then
                printf '%-24s FAILED to stop pid %s (no longer in %s)\n' "$id" "$pid" "${SERVICES_FILE##*/}" >&2
            else
                printf '%-24s stopped: no longer in %s\n' "$id" "${SERVICES_FILE##*/}"
                rm -f -- "$(pid_file "$name" "$r")" "$(ready_file "$name" "$r")" "$(restarts_file "$name" "$r")"
            fi
        done
        # Started again: replicas supervisord gave up on, or that someone stopped.
        # remove + add, not start: `supervisorctl start` waits STARTSECS per replica.
        load_states || die "cannot ask supervisord (pid $sup) what it runs"
        for line in "${sel[@]}"; do
            read -r name r <<<"$line"
            id=$(inst_id "$name" "$r")
            case ${SUP_STATE[$id]:-} in
                STOPPED | EXITED | FATAL) ;;
                *) continue ;;
            esac
            rm -f -- "$(ready_file "$name" "$r")" "$(pid_file "$name" "$r")"
            touched[$id]=1
            again+=("$id")
        done
        if (($# == 0)) && [[ $CONSOLE_STATE =~ ^(STOPPED|EXITED|FATAL)$ ]]; then
            rm -f -- "$CONSOLE_READY" "$CONSOLE_PIDFILE"
            touched[$CONSOLE_ID]=1
            again+=("$CONSOLE_ID")
        fi
        if ((${#again[@]})); then
            if ! ctl remove "${again[@]}" >/dev/null || ! ctl add "${again[@]}" >/dev/null; then
                die "supervisorctl could not start ${again[*]} again"
            fi
        fi
    fi

    # Wait for the ready files. A replica that exits before it is ready fails
    # `up` at once (supervisord goes on restarting it); so does the console.
    local failed=0 deadline rf verb
    deadline=$((t0 + READY_TIMEOUT * 1000))
    for line in "${sel[@]}"; do
        read -r name r <<<"$line"
        id=$(inst_id "$name" "$r")
        rf=$(ready_file "$name" "$r")
        if [[ -z ${touched[$id]:-} ]] && pid=$(inst_pid "$name" "$r") && [[ -e $rf ]]; then
            printf '%-24s already running (pid %s)\n' "$id" "$pid"
            continue
        fi
        verb=running
        [[ -z ${touched[$id]:-} ]] || verb=started
        await_ready "$id" "$(pid_file "$name" "$r")" "$rf" "$LOG_DIR/$id.log" "$verb" || failed=1
    done
    if (($# == 0)) && [[ $CONSOLE_PORT != off ]]; then
        if [[ -z ${touched[$CONSOLE_ID]:-} ]] && pid=$(console_pid) && [[ -e $CONSOLE_READY ]]; then
            printf '%-24s already running (pid %s)\n' "$CONSOLE_ID" "$pid"
        else
            verb=running
            [[ -z ${touched[$CONSOLE_ID]:-} ]] || verb=started
            await_ready "$CONSOLE_ID" "$CONSOLE_PIDFILE" "$CONSOLE_READY" "$CONSOLE_LOG" "$verb" || failed=1
        fi
    fi
    ((!failed)) || die "some services did not become ready (supervisord keeps restarting them; '$PROG status' shows them, '$PROG down' stops them)"
}

# stop_unsupervised ID PID: a process of ours that no supervisord knows (it was
# killed, or an older services.sh started it) would run twice: stop it.
stop_unsupervised() {
    if stop_pid "$2" "INT:$STOP_TIMEOUT TERM:5"; then
        printf '%-24s was running unsupervised (pid %s): stopped\n' "$1" "$2"
    else
        die "$1 (pid $2) runs unsupervised and does not stop"
    fi
}

# await_ready ID PIDFILE READYFILE LOG VERB: wait (until the caller's deadline) for
# the process supervisord starts to write READYFILE, and say "ID VERB (pid), ready
# in"; else say why not, show the end of LOG, and fail.
await_ready() {
    local id=$1 pidfile=$2 rf=$3 log=$4 verb=$5 pid first='' why='' state
    while :; do
        pid=$(cat -- "$pidfile" 2>/dev/null) || pid=''
        if [[ -n $pid ]]; then
            first=${first:-$pid}
            if [[ $pid != "$first" ]] || ! proc_alive "$pid"; then
                load_states || true
                state=${SUP_STATE[$id]:-}
                [[ $id != "$CONSOLE_ID" ]] || state=$CONSOLE_STATE
                why="exited before becoming ready (supervisord: ${state:-?}, restarting it with backoff)"
                break
            fi
            [[ ! -e $rf ]] || break
        fi
        if (($(now_ms) >= deadline)); then
            why="not ready after ${READY_TIMEOUT}s (no $rf)"
            break
        fi
        sleep 0.1
    done
    if [[ -z $why ]]; then
        printf '%-24s %s (pid %s), ready in %s\n' "$id" "$verb" "$pid" "$(elapsed "$t0")"
        return 0
    fi
    printf '%s: error: %s %s\n' "$PROG" "$id" "$why" >&2
    show_log_tail "$log" 40
    return 1
}

# run by supervisord, not by hand: exec-replica PIDFILE READYFILE CMD...
cmd_exec_replica() {
    local pidfile=$1 rf=$2
    shift 2
    # Left behind by a replica that was killed; the service writes it once ready.
    rm -f -- "$rf"
    printf '%s\n' "$$" >"$pidfile.tmp"
    mv -f -- "$pidfile.tmp" "$pidfile"
    printf '\n===== %s starting: %s\n' "$(date '+%Y-%m-%dT%H:%M:%S')" "$*"
    exec "$@"
}

# All instances with a pidfile, optionally restricted to service names.
pidfile_instances() { # -> lines "name instance"
    local f base name r a ok
    for f in "$RUN_DIR"/svc-*.pid; do
        [[ -e $f ]] || continue
        base=${f##*/}
        base=${base%.pid}
        base=${base#svc-}
        r=${base##*-}
        name=${base%-*}
        if (($#)); then
            ok=0
            for a in "$@"; do [[ $a == "$name" ]] && ok=1; done
            ((ok)) || continue
        fi
        printf '%s %s\n' "$name" "$r"
    done
}

cmd_down() {
    take_lock
    local name r pid id sup a rc=0 any=0 console
    local -a progs=() ids=()
    declare -A pids=() done_=() was=()
    console=$(console_pid) || console=''
    while read -r name r; do
        pid=$(inst_pid "$name" "$r") && pids[$(inst_id "$name" "$r")]=$pid
    done < <(pidfile_instances "$@")

    if sup=$(sup_pid); then
        find_supervisor
        # If supervisorctl cannot answer, stopping supervisord (SIGTERM) stops all.
        load_states || (($# == 0)) || die "cannot ask supervisord (pid $sup) what it runs; '$PROG down' (no NAME) stops it"
        for id in "${!SUP_STATE[@]}"; do
            read -r name _ <<<"$(split_id "$id")"
            if (($#)); then
                for a in "$@"; do [[ $a == "$name" ]] && progs+=("$id"); done
            else
                progs+=("$id")
            fi
        done
        if ((${#progs[@]})); then
            mapfile -t progs < <(printf '%s\n' "${progs[@]}" | sort -V)
        fi
        if (($# == 0)); then
            stop_supervisord "$sup"
        elif ((${#progs[@]})); then
            ctl stop "${progs[@]}" >/dev/null || true
            ctl remove "${progs[@]}" >/dev/null || true
            drop_from_conf "${progs[@]}"
            for id in "${!SUP_STATE[@]}"; do was[$id]=${SUP_STATE[$id]}; done
            if load_states && ((${#SUP_STATE[@]} == 0)); then stop_supervisord "$sup"; fi
        fi
        for id in "${progs[@]+"${progs[@]}"}"; do
            any=1
            done_[$id]=1
            read -r name r <<<"$(split_id "$id")"
            if pid=$(inst_pid "$name" "$r"); then
                printf '%-24s FAILED to stop pid %s\n' "$id" "$pid" >&2
                rc=1
            elif [[ -n ${pids[$id]:-} ]]; then
                printf '%-24s stopped (pid %s)\n' "$id" "${pids[$id]}"
            else
                printf '%-24s not running (was %s)\n' "$id" "${was[$id]:-${SUP_STATE[$id]:-?}}"
            fi
        done
    fi

    # Replicas without supervisord (it was killed, or an older services.sh
    # started them): SIGINT first, the Python side's graceful shutdown.
    while read -r name r; do
        id=$(inst_id "$name" "$r")
        ids+=("$name $r")
        [[ -z ${done_[$id]:-} ]] || continue
        any=1
        if pid=$(inst_pid "$name" "$r"); then
            if stop_pid "$pid" "INT:$STOP_TIMEOUT TERM:5"; then
                printf '%-24s stopped (pid %s, unsupervised)\n' "$id" "$pid"
            else
                printf '%-24s FAILED to stop pid %s\n' "$id" "$pid" >&2
                rc=1
            fi
        elif [[ -n ${pids[$id]:-} ]]; then # stopped with supervisord
            printf '%-24s stopped (pid %s)\n' "$id" "${pids[$id]}"
        else
            printf '%-24s not running\n' "$id"
        fi
    done < <(pidfile_instances "$@")
    for a in "${ids[@]+"${ids[@]}"}"; do
        read -r name r <<<"$a"
        inst_pid "$name" "$r" >/dev/null ||
            rm -f -- "$(pid_file "$name" "$r")" "$(ready_file "$name" "$r")" "$(restarts_file "$name" "$r")"
    done

    # The console stops with supervisord: a down without NAMEs, or of the last service.
    if [[ -n $console ]]; then
        any=1
        if ! console_pid >/dev/null; then
            printf '%-24s stopped (pid %s)\n' "$CONSOLE_ID" "$console"
        elif (($# == 0)); then # no supervisord knew it
            if stop_pid "$console" "INT:$STOP_TIMEOUT TERM:5"; then
                printf '%-24s stopped (pid %s, unsupervised)\n' "$CONSOLE_ID" "$console"
            else
                printf '%-24s FAILED to stop pid %s\n' "$CONSOLE_ID" "$console" >&2
                rc=1
            fi
        fi
    fi
    console_pid >/dev/null || rm -f -- "$CONSOLE_PIDFILE" "$CONSOLE_READY" "$RUN_DIR/$CONSOLE_ID.restarts"
    ((any)) || say "no services running from $STACK_DIR"
    return "$rc"
}

# 75 -> "1m15s"
duration() {
    local s=$1
    if ((s >= 86400)); then
        printf '%dd%02dh' $((s / 86400)) $((s % 86400 / 3600))
    elif ((s >= 3600)); then
        printf '%dh%02dm' $((s / 3600)) $((s % 3600 / 60))
    elif ((s >= 60)); then
        printf '%dm%02ds' $((s / 60)) $((s % 60))
    else
        printf '%ds' "$s"
    fi
}

# One status line: status_row ID PID PIDFILE READYFILE STATE [NOTE], PID empty
# when the process does not run, STATE supervisord's (empty: it does not know it).
# Fails unless ready.
status_row() {
    local id=$1 pid=${2:-} pidfile=$3 rf=$4 state=${5:-} note=${6:-} alive=no ready=no uptime=- restarts=-
    if [[ -n $pid ]]; then
        alive=yes
        [[ ! -e $rf ]] || ready=yes
        uptime=$(duration $((EPOCHSECONDS - $(stat -c %Y -- "$pidfile"))))
    else
        pid=-
    fi
    if [[ -n $state ]]; then
        restarts=$(cat -- "$RUN_DIR/$id.restarts" 2>/dev/null) || restarts=0
    elif [[ $alive == yes ]]; then
        state=unsupervised
    else
        state=-
    fi
    printf '%-24s %-8s %-6s %-6s %-8s %-9s %s%s\n' "$id" "$pid" "$alive" "$ready" "$uptime" "$restarts" "$state" "$note"
    [[ $ready == yes ]]
}

# status_line NAME I [NOTE]: a replica's status_row.
status_line() {
    local id pid
    id=$(inst_id "$1" "$2")
    pid=$(inst_pid "$1" "$2") || pid=''
    status_row "$id" "$pid" "$(pid_file "$1" "$2")" "$(ready_file "$1" "$2")" "${SUP_STATE[$id]:-}" "${3:-}"
}

# console_status: the console's status_row (if this state dir runs one), then its
# address, whether it answers, and where the password of its logins is. Fails if it
# is configured and not ready and healthy.
console_status() {
    local pid url='' credentials='' health
    [[ -n $CONSOLE_STATE || -e $CONSOLE_PIDFILE ]] ||
        grep -qxF "[program:$CONSOLE_ID]" "$SUP_CONF" 2>/dev/null || return 0
    pid=$(console_pid) || pid=''
    if ! status_row "$CONSOLE_ID" "$pid" "$CONSOLE_PIDFILE" "$CONSOLE_READY" "$CONSOLE_STATE"; then
        say "console: not ready (log $CONSOLE_LOG)"
        return 1
    fi
    { read -r url && read -r credentials; } <"$CONSOLE_READY" || true
    if ! command -v curl >/dev/null; then
        health="health unknown (no curl)"
    elif curl -fsS --max-time 3 -o /dev/null "${url}healthz" 2>/dev/null; then
        health=healthy
    else
        health="NOT healthy (${url}healthz; log $CONSOLE_LOG)"
    fi
    say "console: $url $health; log in as ops (password in $credentials/ops.json) to act, or as ops-readonly ($credentials/ops-readonly.json) to look only"
    [[ $health == healthy ]]
}

cmd_status() {
    local check=0 a args=()
    for a in "$@"; do
        if [[ $a == --check ]]; then check=1; else args+=("$a"); fi
    done
    read_services
    select_services "${args[@]+"${args[@]}"}"
    local i r name id sup='' all=1
    declare -A seen=()
    SUP_STATE=()
    if sup=$(sup_pid); then
        find_supervisor
        load_states || true
    fi
    # RESTARTS: how many times supervisord restarted the replica by itself since
    # it was last started on purpose (by `up`). supervisord keeps no such count;
    # its event listener infra/restart_counter.py does, from the state each start
    # leaves (BACKOFF or EXITED: a restart; STOPPED or FATAL: a start), into
    # run/svc-NAME-i.restarts. Events name the process exactly and cannot be
    # missed (supervisord buffers them while the listener is busy or restarting),
    # unlike pids, which start history would have to sample, or log lines.
    # UPTIME: since the pidfile was written, i.e. since this process started.
    # STATE: supervisord's; STARTING lasts STARTSECS even once the replica is ready.
    printf '%-24s %-8s %-6s %-6s %-8s %-9s %s\n' INSTANCE PID ALIVE READY UPTIME RESTARTS STATE
    for i in "${SEL[@]}"; do
        name=${SVC_NAMES[i]}
        for ((r = 0; r < SVC_REPLICAS[i]; r++)); do
            seen[$(inst_id "$name" "$r")]=1
            status_line "$name" "$r" || all=0
        done
    done
    # Running instances not (or no longer) in services.txt.
    {
        for id in "${!SUP_STATE[@]}"; do split_id "$id" && echo; done
        pidfile_instances "${args[@]+"${args[@]}"}"
    } | sort -u | while read -r name r; do
        [[ -z ${seen[$(inst_id "$name" "$r")]:-} ]] || continue
        if ((${#args[@]})); then
            a=0
            for i in "${args[@]}"; do [[ $i == "$name" ]] && a=1; done
            ((a)) || continue
        fi
        if inst_pid "$name" "$r" >/dev/null || [[ -n ${SUP_STATE[$(inst_id "$name" "$r")]:-} ]]; then
            status_line "$name" "$r" "  (not in ${SERVICES_FILE##*/})" || true
        fi
    done
    console_status || all=0
    if [[ -n $sup ]]; then
        say "supervisord: pid $sup, config $SUP_CONF, log $SUP_LOG"
    else
        say "supervisord: not running ($STACK_DIR)"
    fi
    if ((check && !all)); then return 1; fi
    return 0
}

cmd_logs() {
    local follow=0 a names=() files=() f
    for a in "$@"; do
        case $a in
            -f | --follow) follow=1 ;;
            *) names+=("$a") ;;
        esac
    done
    if ((${#names[@]})); then
        for a in "${names[@]}"; do
            for f in "$LOG_DIR/svc-$a-"*.log; do [[ -e $f ]] && files+=("$f"); done
        done
    else
        # supervisord's own log says when and how a replica exited and was restarted.
        for f in "$LOG_DIR"/svc-*.log "$SUP_LOG"; do [[ -e $f ]] && files+=("$f"); done
    fi
    ((${#files[@]})) || {
        say "no service logs in $LOG_DIR"
        return 0
    }
    if ((follow)); then
        exec tail -n 50 -F -- "${files[@]}"
    fi
    tail -n 50 -- "${files[@]}"
}

usage() {
    sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

main() {
    local cmd=${1:-}
    (($#)) && shift
    case $cmd in
        up | start) cmd_up "$@" ;;
        down | stop) cmd_down "$@" ;;
        restart)
            cmd_down "$@"
            cmd_up "$@"
            ;;
        status) cmd_status "$@" ;;
        logs) cmd_logs "$@" ;;
        exec-replica) cmd_exec_replica "$@" ;;
        -h | --help | help) usage ;;
        '')
            usage >&2
            exit 2
            ;;
        *) die "unknown command '$cmd' (try --help)" ;;
    esac
}

main "$@"
