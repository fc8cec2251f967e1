# shellcheck shell=bash
# Shared helpers for infra/stack.sh and infra/services.sh. Sourced, not executed.
#
# State layout (default <repo>/.stack, override with CHORUS_STACK_DIR):
#   data/<name>/        server data (kept by `down`, deleted by `reset`)
#   logs/<name>.log     stdout+stderr of each background process
#   run/<name>.pid      pid of each process started by these scripts
#   run/<name>.port     port it was started on
#   run/.lock           flock serialising concurrent up/down/reset

INFRA_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$INFRA_DIR/.." && pwd -P)

# set_state_dir DIR: STACK_DIR (absolute, no trailing slash) and its RUN_DIR, LOG_DIR,
# DATA_DIR. services.sh calls it again for SERVICES_STATE_DIR.
set_state_dir() {
    STACK_DIR=$1
    case $STACK_DIR in
        /*) ;;
        *) STACK_DIR=$PWD/$STACK_DIR ;;
    esac
    STACK_DIR=${STACK_DIR%/}
    RUN_DIR=$STACK_DIR/run
    LOG_DIR=$STACK_DIR/logs
    DATA_DIR=$STACK_DIR/data
}
set_state_dir "${CHORUS_STACK_DIR:-$REPO_ROOT/.stack}"

PROG=${PROG:-$(basename -- "$0")}

say() { printf '%s\n' "$*"; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

# Monotonic-enough wall clock in milliseconds (for durations and deadlines).
now_ms() {
    local s=${EPOCHREALTIME/./}
    printf '%s' "$((s / 1000))"
}
elapsed() { # elapsed START_MS -> "1.23s"
    local d=$(($(now_ms) - $1))
    printf '%d.%02ds' "$((d / 1000))" "$(((d % 1000) / 10))"
}

ensure_stack_dirs() {
    case $STACK_DIR in
        *[[:space:]]*) die "CHORUS_STACK_DIR must not contain whitespace (mosquitto.conf paths): '$STACK_DIR'" ;;
    esac
    mkdir -p "$RUN_DIR" "$LOG_DIR" "$DATA_DIR"
    # Other users (postgres) must be able to traverse into data/ and run/.
    chmod 755 "$STACK_DIR" "$RUN_DIR" "$DATA_DIR"
    # Make the state dir ignore itself, whatever the repo's .gitignore says.
    [[ -e $STACK_DIR/.gitignore ]] || printf '# created by infra/stack.sh\n*\n' >"$STACK_DIR/.gitignore"
}

# Serialise up/down/reset of one stack dir. fd 9 is closed in every child we
# launch (see launch), so a long-running server never inherits the lock.
take_lock() {
    ensure_stack_dirs
    exec 9>"$RUN_DIR/.lock"
    if ! flock -w "${CHORUS_LOCK_TIMEOUT:-600}" 9; then
        die "another $PROG is running on $STACK_DIR (lock $RUN_DIR/.lock)"
    fi
}

# --- processes ----------------------------------------------------------------

# proc_alive PID: running and not a zombie (pid 1 here may reap slowly).
proc_alive() {
    local pid=$1 stat
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/stat ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# proc_cmdline_has PID STRING: the command line contains STRING (guards
# against a pidfile pointing at an unrelated process after pid reuse).
proc_cmdline_has() {
    local cmd
    cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
    [[ $cmd == *"$2"* ]]
}

# pidfile_pid PIDFILE STRING -> prints the pid if alive and matching, else
# returns 1 (and removes a stale pidfile).
pidfile_pid() {
    local pidfile=$1 match=$2 pid
    [[ -f $pidfile ]] || return 1
    pid=$(<"$pidfile") || return 1
    if proc_alive "$pid" && proc_cmdline_has "$pid" "$match"; then
        printf '%s' "$pid"
        return 0
    fi
    rm -f -- "$pidfile"
    return 1
}

# kill_group_leftovers PGID MATCH: after the group leader we started died
# (e.g. SIGKILL), SIGKILL its remaining group members whose command line
# contains MATCH (e.g. orphaned postgres backends still attached to the old
# shared memory), and wait for them. Each process we launch leads its own group.
kill_group_leftovers() {
    local pgid=$1 match=$2 f stat p left=()
    [[ $pgid =~ ^[0-9]+$ ]] || return 0
    for f in /proc/[0-9]*/stat; do
        stat=$(cat "$f" 2>/dev/null) || continue
        stat=${stat##*) }
        read -r _ _ p _ <<<"$stat"
        [[ $p == "$pgid" ]] || continue
        p=${f#/proc/}
        p=${p%/stat}
        if proc_alive "$p" && proc_cmdline_has "$p" "$match"; then
            kill -KILL "$p" 2>/dev/null && left+=("$p")
        fi
    done
    for p in "${left[@]+"${left[@]}"}"; do wait_gone "$p" 5 || true; done
    ((${#left[@]} == 0)) || warn "killed ${#left[@]} leftover process(es) of dead pid $pgid"
}

# wait_gone PID SECONDS: 0 if the process exits within SECONDS.
wait_gone() {
    local pid=$1 deadline=$(($(now_ms) + $2 * 1000))
    while proc_alive "$pid"; do
        (($(now_ms) < deadline)) || return 1
        sleep 0.1
    done
}

# stop_pid PID "SIG[:SECONDS] SIG[:SECONDS] ..." : send each signal in turn and
# wait; last resort SIGKILL to the whole process group (we start every process
# as a session/group leader with setsid). Returns 0 once gone.
stop_pid() {
    local pid=$1 step sig secs
    for step in $2; do
        sig=${step%%:*}
        secs=${step#*:}
        [[ $secs == "$step" ]] && secs=10
        kill "-$sig" "$pid" 2>/dev/null || true
        wait_gone "$pid" "$secs" && return 0
        warn "pid $pid still alive ${secs}s after SIG$sig"
    done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 5
}

# launch PIDFILE LOGFILE CMD...: start CMD in the background in its own session
# (setsid: no controlling terminal, so no SIGHUP when the shell exits; own
# process group for clean group kills), stdin from /dev/null, stdout+stderr
# appended to LOGFILE, cwd "/". The child writes its own pid before exec'ing CMD,
# so the pidfile holds the pid of CMD itself (setsid may fork; $! would lie).
# Prints the pid.
launch() {
    local pidfile=$1 logfile=$2
    shift 2
    # A command started with "&" by a non-interactive shell has SIGINT/SIGQUIT
    # ignored, inherited across exec; Python then installs no KeyboardInterrupt
    # handler and bash cannot trap them. Reset every signal to its default
    # (coreutils >= 9.0; Debian 12 has 9.1).
    if env --default-signal=INT true 2>/dev/null; then
        set -- env --default-signal "$@"
    fi
    rm -f -- "$pidfile"
    printf '\n===== %s starting: %s\n' "$(date '+%Y-%m-%dT%H:%M:%S')" "$*" >>"$logfile"
    (
        cd / || exit 1
        exec 9>&- # never leak the stack lock into a daemon
        # shellcheck disable=SC2016 # expanded by the inner bash
        setsid bash -c 'echo "$$" >"$0.tmp" && mv -f "$0.tmp" "$0" && exec "$@"' \
            "$pidfile" "$@" </dev/null >>"$logfile" 2>&1 &
    )
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -s $pidfile ]] && break
        sleep 0.05
    done
    [[ -s $pidfile ]] || die "failed to launch $1 (no pidfile $pidfile); see $logfile"
    cat -- "$pidfile"
}

# show_log_tail LOGFILE [N]
show_log_tail() {
    local n=${2:-30}
    if [[ -s $1 ]]; then
        printf -- '----- last %s lines of %s -----\n' "$n" "$1" >&2
        tail -n "$n" -- "$1" >&2
        printf -- '-----\n' >&2
    else
        printf -- '(log %s is empty)\n' "$1" >&2
    fi
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null
}

# port_owner PORT -> ' (listening: "name" pid N)' when ss can tell, else ''.
port_owner() {
    local line
    command -v ss >/dev/null 2>&1 || return 0
    line=$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:(([^)]*))' | head -n 1) || true
    [[ -n $line ]] || return 0
    line=${line#users:((}
    line=${line%%))}
    printf ' (listening: %s)' "${line%%,fd=*}"
}

check_port_var() { # check_port_var NAME VALUE
    if ! [[ $2 =~ ^[0-9]+$ ]] || (($2 < 1 || $2 > 65535)); then
        die "$1 must be a TCP port number, got '$2'"
    fi
}
