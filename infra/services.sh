#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Run the Chorus Python services in the background, one process per replica.
#
#   infra/services.sh up [NAME...]       start missing replicas, wait until each is ready
#   infra/services.sh down [NAME...]     stop replicas started by this script
#   infra/services.sh restart [NAME...]  down + up
#   infra/services.sh status [--check] [NAME...]
#   infra/services.sh logs [-f] [NAME...]
#
# infra/services.txt lists "NAME [REPLICAS]" per line (# comments, default 1).
# Replica i (0-based) runs:
#   $BUS_BIN run NAME --instance i --ready-file .stack/run/svc-NAME-i.ready
# with log .stack/logs/svc-NAME-i.log and pidfile .stack/run/svc-NAME-i.pid.
# The service creates the ready file once connected and subscribed and removes
# it on exit. The environment (MQTT_PORT, BUS_*, ...) is passed through unchanged.
#
# Environment: BUS_BIN (default <repo>/.venv/bin/bus), SERVICES_FILE (default
# infra/services.txt), CHORUS_STACK_DIR, SERVICES_READY_TIMEOUT (30 s),
# SERVICES_STOP_TIMEOUT (10 s: SIGINT, then SIGTERM for 5 s, then SIGKILL).
# A second set of services next to the usual one (a test's, in its own
# BUS_NAMESPACE and databases) sets SERVICES_STATE_DIR, for up, status and down
# alike: its run/ (pidfiles, ready files, lock) and logs/ instead of those of the
# stack dir.
set -euo pipefail

PROG=services.sh
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

BUS_BIN=${BUS_BIN:-$REPO_ROOT/.venv/bin/bus}
[[ -z ${SERVICES_STATE_DIR:-} ]] || set_state_dir "$SERVICES_STATE_DIR"
SERVICES_FILE=${SERVICES_FILE:-$INFRA_DIR/services.txt}
READY_TIMEOUT=${SERVICES_READY_TIMEOUT:-30}
STOP_TIMEOUT=${SERVICES_STOP_TIMEOUT:-10}

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
# Identity check for pidfiles: the command line carries the ready-file path.
inst_pid() { pidfile_pid "$RUN_DIR/$(inst_id "$1" "$2").pid" "--ready-file $(ready_file "$1" "$2")"; }

cmd_up() {
    read_services
    select_services "$@"
    take_lock
    [[ -x $BUS_BIN ]] || die "bus executable not found: $BUS_BIN (create the venv first, or set BUS_BIN)"

    local i r name reps id pid rf log f
    local -a started=() t0s=() kept=()
    for i in "${SEL[@]}"; do
        name=${SVC_NAMES[i]}
        reps=${SVC_REPLICAS[i]}
        for ((r = 0; r < reps; r++)); do
            id=$(inst_id "$name" "$r")
            rf=$(ready_file "$name" "$r")
            if pid=$(inst_pid "$name" "$r"); then
                kept+=("$id $pid")
                continue
            fi
            # A stale ready file (crash, SIGKILL) would make us think it is ready.
            rm -f -- "$rf"
            log=$LOG_DIR/$id.log
            t0s+=("$(now_ms)")
            # launch runs from "/"; env -C puts the service in the repo root.
            pid=$(launch "$RUN_DIR/$id.pid" "$log" \
                env -C "$REPO_ROOT" "$BUS_BIN" run "$name" --instance "$r" --ready-file "$rf")
            started+=("$id $pid $name $r")
        done
        # Replicas beyond the configured count are not stopped automatically.
        for f in "$RUN_DIR/svc-$name-"*.pid; do
            [[ -e $f ]] || continue
            r=${f##*-}
            r=${r%.pid}
            if [[ $r =~ ^[0-9]+$ ]] && ((r >= reps)) && inst_pid "$name" "$r" >/dev/null; then
                warn "$(inst_id "$name" "$r") is running but $SERVICES_FILE asks for $reps replica(s); stop it with: $PROG down $name"
            fi
        done
    done

    local entry failed=0 k=0 deadline
    for entry in "${kept[@]+"${kept[@]}"}"; do
        read -r id pid <<<"$entry"
        printf '%-24s already running (pid %s)\n' "$id" "$pid"
    done
    for entry in "${started[@]+"${started[@]}"}"; do
        read -r id pid name r <<<"$entry"
        rf=$(ready_file "$name" "$r")
        log=$LOG_DIR/$id.log
        deadline=$((t0s[k] + READY_TIMEOUT * 1000))
        while [[ ! -e $rf ]]; do
            if ! proc_alive "$pid"; then
                printf '%s: error: %s exited before becoming ready\n' "$PROG" "$id" >&2
                break
            fi
            if (($(now_ms) >= deadline)); then
                printf '%s: error: %s not ready after %ss (no %s)\n' "$PROG" "$id" "$READY_TIMEOUT" "$rf" >&2
                break
            fi
            sleep 0.1
        done
        if [[ -e $rf ]] && proc_alive "$pid"; then
            printf '%-24s started (pid %s), ready in %s\n' "$id" "$pid" "$(elapsed "${t0s[k]}")"
        else
            failed=1
            show_log_tail "$log" 40
        fi
        k=$((k + 1))
    done
    ((!failed)) || die "some services did not become ready (still-running ones are left running; '$PROG down' stops them)"
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
    local name r pid id rc=0 any=0
    while read -r name r; do
        any=1
        id=$(inst_id "$name" "$r")
        if pid=$(inst_pid "$name" "$r"); then
            # SIGINT first: the Python side handles it as a graceful shutdown.
            if stop_pid "$pid" "INT:$STOP_TIMEOUT TERM:5"; then
                printf '%-24s stopped (pid %s)\n' "$id" "$pid"
            else
                printf '%-24s FAILED to stop pid %s\n' "$id" "$pid" >&2
                rc=1
                continue
            fi
        else
            printf '%-24s not running\n' "$id"
        fi
        rm -f -- "$RUN_DIR/$id.pid" "$(ready_file "$name" "$r")"
    done < <(pidfile_instances "$@")
    ((any)) || say "no services running from $STACK_DIR"
    return "$rc"
}

cmd_status() {
    local check=0 a args=()
    for a in "$@"; do
        if [[ $a == --check ]]; then check=1; else args+=("$a"); fi
    done
    read_services
    select_services "${args[@]+"${args[@]}"}"
    local i r name pid alive ready all=1
    declare -A seen=()
    printf '%-24s %-8s %-6s %s\n' INSTANCE PID ALIVE READY
    for i in "${SEL[@]}"; do
        name=${SVC_NAMES[i]}
        for ((r = 0; r < SVC_REPLICAS[i]; r++)); do
            seen[$name-$r]=1
            if pid=$(inst_pid "$name" "$r"); then alive=yes; else pid=- alive=no; fi
            if [[ $alive == yes && -e $(ready_file "$name" "$r") ]]; then ready=yes; else ready=no; fi
            [[ $ready == yes ]] || all=0
            printf '%-24s %-8s %-6s %s\n' "$(inst_id "$name" "$r")" "$pid" "$alive" "$ready"
        done
    done
    # Running instances not (or no longer) in services.txt.
    while read -r name r; do
        [[ -z ${seen[$name-$r]:-} ]] || continue
        pid=$(inst_pid "$name" "$r") || continue
        if [[ -e $(ready_file "$name" "$r") ]]; then ready=yes; else ready=no; fi
        printf '%-24s %-8s %-6s %s  (not in %s)\n' "$(inst_id "$name" "$r")" "$pid" yes "$ready" "${SERVICES_FILE##*/}"
    done < <(pidfile_instances "${args[@]+"${args[@]}"}")
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
        for f in "$LOG_DIR"/svc-*.log; do [[ -e $f ]] && files+=("$f"); done
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
        -h | --help | help) usage ;;
        '')
            usage >&2
            exit 2
            ;;
        *) die "unknown command '$cmd' (try --help)" ;;
    esac
}

main "$@"
