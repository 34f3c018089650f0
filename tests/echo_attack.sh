#!/bin/sh
# SPDX-License-Identifier: MIT
#
# echo_attack.sh - the echo server under hostile clients (examples/echo_client
# --mode nonreader|oob|idle), beside verified streams.  TAP output.
#
#   bound      non-readers hold their bound of buffers and no more, and
#              little of the kernel's memory; beside them verified streams
#              echo a fixed byte count (a large pool with 8, a pool of 64
#              with one); idle workers keep no buffers in their caches
#   timeout    more non-readers than the pool can hold: the write timeout
#              closes every one (never before it), the streams complete
#   oob        bytes after TCP urgent data are echoed without the client
#              sending more, the urgent byte in line, over several turns
#   admission  64 connections against 2 workers x 32 slots, and 64 verified
#              streams against 4 x 16: none refused; the 65th is
#   idle       silent connections are closed after the idle timeout
#   options    bad values of the new options are refused
#
# After each run the server is stopped with SIGTERM and must exit 0 with
# every buffer back.  Every wait is for an observable state (a line of
# output, the server's answer to SIGUSR1, a process' exit), bounded by a
# generous deadline; the server's timeouts are the only clocks, and are
# only checked from below.
set -u

builddir=${top_builddir:-.}
server=$builddir/examples/echo_server
client=$builddir/examples/echo_client

if [ ! -x "$server" ] || [ ! -x "$client" ]; then
	echo "1..0 # SKIP $server or $client not built"
	exit 0
fi
to=
command -v timeout >/dev/null 2>&1 && to="timeout 120"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/iobuf-attack.XXXXXX") || exit 1
pid=
bg=

# ok, not_ok: the TAP lines every shell test shares.
. "$(dirname "$0")/common/tap.sh"
# start, stop, check, wait_line: tests/common/server.sh.
server_opts=--quiet
. "$(dirname "$0")/common/server.sh"

# snapshot: SIGUSR1 to the server, and its answer: sets $live (connections),
# $in_use (buffers of the tier handed out) and $cached (free in caches).
snapshot() {
	snaps=$((snaps + 1))
	kill -USR1 "$pid"
	wait_line "$tmp/$name.server" "^echo_server: snapshot $snaps:" 30 || return 1
	line=$(grep "^echo_server: snapshot $snaps:" "$tmp/$name.server")
	live=$(echo "$line" | sed -n 's/.*: \([0-9]*\) connections.*/\1/p')
	in_use=$(echo "$line" | sed -n 's/.* in_use \([0-9]*\) .*/\1/p')
	cached=$(echo "$line" | sed -n 's/.* cached \([0-9]*\) .*/\1/p')
}

# wait_state TEST SECONDS: snapshots until the shell test TEST (on $live,
# $in_use) holds (0), or the deadline (1).
wait_state() {
	state_end=$(($(date +%s) + $2))
	while snapshot; do
		eval "$1" && return 0
		[ "$(date +%s)" -ge $state_end ] && return 1
		sleep 0.05
	done
	return 1
}

# field FILE NAME: a value of the RESULT line in FILE.
field() { sed -n "s/^RESULT.* $2=\([^ ]*\).*/\1/p" "$1"; }

# not_started NAME COUNT: the server did not start; COUNT tests fail.
not_started() {
	not_ok "$1: server did not start" "$tmp/$1.server"
	k=1
	while [ $k -lt "$2" ]; do
		not_ok "$1: not run"
		k=$((k + 1))
	done
}

echo "1..24"

# 1-5: 8 non-readers against a pool of 512 and a write timeout longer than
# the test: each fills up to its bound (16), 128 in all, and stays there;
# beside them the streams go on.  (Without a bound, 8 x 64 buffers take
# the whole pool: the streams stall.)
if start bound --threads 2 --buffers 512 --write-timeout 600000; then
	$to "$client" --port "$port" --mode nonreader --conns 8 --duration 120 >"$tmp/bound.nr" 2>&1 &
	nr=$!
	bg="$bg $nr"
	if wait_line "$tmp/bound.nr" '^STALLED' 60 && wait_state '[ "$in_use" -ge 128 ]' 60 && [ "$in_use" -eq 128 ]
	then
		ok "bound: 8 non-readers hold 128 buffers of 512, 16 each"
	else
		not_ok "bound: the non-readers hold ${in_use:-?} buffers, not 8 x 16" "$tmp/bound.nr" \
			"$tmp/bound.server"
	fi
	$to "$client" --port "$port" --conns 4 --bytes 4000000 --duration 60 --quiet >"$tmp/bound.st" 2>&1
	check $? "bound: 4 streams echo 4 MB each, verified, beside them" "$tmp/bound.st" "$tmp/bound.nr"
	# Both workers now wait: before sleeping, each gives its cache's free buffers back.
	if wait_state '[ "$cached" -eq 0 ]' 60 && [ "$in_use" -eq 128 ] && [ "$live" -eq 8 ] && kill -0 $nr 2>/dev/null
	then
		ok "bound: the non-readers are still connected, still holding 128; idle workers cache none"
	else
		not_ok "bound: ${live:-?} connections hold ${in_use:-?} buffers afterwards, ${cached:-?} cached" \
			"$tmp/bound.nr"
	fi
	stop bound '0 closed on the write timeout' 'each holds at most 16 buffers' \
		'^echo_server: 2 worker caches destroyed before the count' '^MEDIUM +4096 +512 +512 +0 +0 '
	wait $nr
	# All a non-reader got in: the server's socket buffers (2 x 256 KiB each
	# way, as the kernel counts them), its 16 buffers (64 KiB) and its own
	# send buffer: well under 2 MB.  The kernel's autotuning alone lets it
	# push several MB.
	sent=$(field "$tmp/bound.nr" sent)
	if [ -n "$sent" ] && [ "$sent" -le $((8 * 2000000)) ]; then
		ok "bound: each non-reader got at most 2 MB into the server ($sent bytes for 8)"
	else
		not_ok "bound: the non-readers pushed ${sent:-?} bytes, more than 8 x 2 MB" "$tmp/bound.nr"
	fi
else
	not_started bound 5
fi

# 6-7: a pool of 64 and one non-reader: it holds 8 (an eighth), the streams
# the rest.  (Without a bound the one client takes all 64.)
if start small --buffers 64 --write-timeout 600000; then
	$to "$client" --port "$port" --mode nonreader --conns 1 --duration 120 >"$tmp/small.nr" 2>&1 &
	nr=$!
	bg="$bg $nr"
	if wait_line "$tmp/small.nr" '^STALLED' 60 && wait_state '[ "$in_use" -ge 8 ]' 60 && [ "$in_use" -eq 8 ]; then
		$to "$client" --port "$port" --conns 2 --bytes 2000000 --duration 60 --quiet >"$tmp/small.st" 2>&1
		check $? "small: 2 streams echo 2 MB each, verified, beside one non-reader holding 8 of 64" \
			"$tmp/small.st" "$tmp/small.nr"
	else
		not_ok "small: the non-reader holds ${in_use:-?} buffers, not 8" "$tmp/small.nr"
	fi
	stop small 'each holds at most 8 buffers'
	wait $nr
else
	not_started small 2
fi

# 8-10: 48 non-readers x 16 buffers are more than the pool of 512: the tier
# runs empty, and stays so until the 2000 ms write timeout closes them (and
# the next ones, served meanwhile).  The streams start once it is empty (or,
# on a machine slow enough, once the first non-readers are closed) and
# complete: only the write timeout can free the pool for them.
if start timeout --threads 2 --buffers 512 --write-timeout 2000; then
	# It outlives the streams' deadline: its own exit must not be what frees the pool.
	$to "$client" --port "$port" --mode nonreader --conns 48 --duration 110 >"$tmp/timeout.nr" 2>&1 &
	nr=$!
	bg="$bg $nr"
	when="after the first closes"
	all=
	wait_state '[ "$live" -ge 48 ] && all=yes; [ "$in_use" -eq 512 ] || [ -n "$all" -a "$live" -lt 48 ]' 60 &&
		[ "$in_use" -eq 512 ] && when="with the pool empty"
	$to "$client" --port "$port" --conns 4 --bytes 2000000 --duration 60 --quiet >"$tmp/timeout.st" 2>&1
	check $? "timeout: 4 streams echo 2 MB each, verified, started $when" \
		"$tmp/timeout.st" "$tmp/timeout.nr"
	rc=0
	wait $nr || rc=$?
	life=$(field "$tmp/timeout.nr" min_life_ms)
	if [ $rc -eq 0 ] && [ "$(field "$tmp/timeout.nr" closed)" = 48 ] && [ "${life:-0}" -ge 2000 ]; then
		ok "timeout: the server closed all 48 non-readers, none before the write timeout (first after $life ms)"
	else
		not_ok "timeout: non-readers not closed by the server, or too early (exit $rc)" "$tmp/timeout.nr"
	fi
	stop timeout '48 closed on the write timeout'
else
	not_started timeout 3
fi

# 11-14: urgent data.  First a pool no larger than one connection's bound, so
# that the client's holder connection keeps the server from reading until
# every urgent round sits whole in its socket buffers, 100 kB before the
# mark; one buffer per readv (--burst 1) makes that several turns of 8
# reads, which must follow each other without a new edge.  Then the
# defaults.
if start oob --buffers 16 --conn-buffers 16 --burst 1; then
	$to "$client" --port "$port" --mode oob --conns 2 --duration 60 >"$tmp/oob.cl" 2>&1
	check $? "oob: every byte after the urgent mark echoed without the client sending more, urgent byte in line" \
		"$tmp/oob.cl"
	stop oob
else
	not_started oob 2
fi
if start oob2 --threads 2; then
	$to "$client" --port "$port" --mode oob --conns 2 --duration 60 >"$tmp/oob2.cl" 2>&1
	check $? "oob2: the same on two workers and the default pool" "$tmp/oob2.cl"
	stop oob2
else
	not_started oob2 2
fi

# 15-19: admission.  64 connections against 2 workers x 32 slots, opened one
# by one and each echoed: none refused, whichever listener the kernel picks;
# a 65th is refused.  Then 64 verified streams against 4 workers x 16.
if start admission --threads 2 --conns 32; then
	$to "$client" --port "$port" --mode idle --conns 64 --duration 90 >"$tmp/adm.64" 2>&1 &
	c64=$!
	bg="$bg $c64"
	if wait_line "$tmp/adm.64" '^READY' 60 && grep -q '^READY echoed=64 refused=0$' "$tmp/adm.64"; then
		ok "admission: 64 connections against 2 workers x 32 slots, none refused"
	else
		not_ok "admission: some of 64 connections refused" "$tmp/adm.64"
	fi
	$to "$client" --port "$port" --mode idle --conns 1 --duration 90 >"$tmp/adm.65" 2>&1 &
	c65=$!
	bg="$bg $c65"
	if wait_line "$tmp/adm.65" '^READY' 60 && grep -q '^READY echoed=0 refused=1$' "$tmp/adm.65"; then
		ok "admission: the 65th is refused, the server being full"
	else
		not_ok "admission: the 65th was not refused" "$tmp/adm.65"
	fi
	stop admission '64 connections, .* 1 refused \(server full\)'
	wait $c64
	wait $c65
else
	not_started admission 3
fi
if start admission4 --threads 4 --conns 16; then
	$to "$client" --port "$port" --conns 64 --bytes 1000000 --duration 60 --quiet >"$tmp/adm4.st" 2>&1
	check $? "admission4: 64 streams against 4 workers x 16 slots, none refused, every byte verified" "$tmp/adm4.st"
	stop admission4 ' 0 refused \(server full\)'
else
	not_started admission4 2
fi

# 20-21: 8 connections say hello and go silent: the 300 ms idle timeout
# closes each, never sooner (measured here from the greeting's send).
if start idle --idle-timeout 300; then
	$to "$client" --port "$port" --mode idle --conns 8 --duration 60 >"$tmp/idle.cl" 2>&1
	rc=$?
	idle=$(field "$tmp/idle.cl" min_idle_ms)
	if [ $rc -eq 0 ] && [ "$(field "$tmp/idle.cl" closed)" = 8 ] && [ "${idle:-0}" -ge 300 ]; then
		ok "idle: 8 silent connections closed by the server, none before the timeout (first after $idle ms)"
	else
		not_ok "idle: silent connections not closed, or too early (exit $rc)" "$tmp/idle.cl"
	fi
	stop idle '8 closed idle'
else
	not_started idle 2
fi

# 22-24: bad values are refused with exit status 2 and a message (a server
# that takes them and starts is stopped by the watchdog, and fails).
wd=
command -v timeout >/dev/null 2>&1 && wd="timeout 10"
bad=
for args in "--conn-buffers 0" "--conn-buffers 65" "--write-timeout -1" "--idle-timeout x" \
	"--threads 64 --conns 1048576"; do
	# shellcheck disable=SC2086
	$wd "$server" --port 0 $args >"$tmp/opt.out" 2>&1
	rc=$?
	[ $rc -eq 2 ] && grep -q 'must be' "$tmp/opt.out" || bad="$bad [$args: exit $rc]"
done
if [ -z "$bad" ]; then ok "options: echo_server refuses bad bounds and timeouts"; else not_ok "options:$bad"; fi
"$client" --port 1 --mode bogus >"$tmp/opt.out" 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -q 'must be' "$tmp/opt.out"; then ok "options: echo_client refuses an unknown mode"; else
	not_ok "options: echo_client --mode bogus: exit $rc" "$tmp/opt.out"; fi
"$client" --port 1 --bytes 0 >"$tmp/opt.out" 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -q 'must be' "$tmp/opt.out"; then ok "options: echo_client refuses --bytes 0"; else
	not_ok "options: echo_client --bytes 0: exit $rc" "$tmp/opt.out"; fi
