#!/bin/sh
# SPDX-License-Identifier: MIT
#
# echo_socat.sh - the echo server under a client nobody here wrote.
#
# Pipes 20 MB of random bytes through examples/echo_server with socat(1) and
# compares what comes back byte for byte: with the default pool, with a pool
# of 8 buffers while another connection does not read (backpressure), with
# several connections on two workers, on malloc'd buffers, and on io_uring
# (write_fixed, zero-copy sends, a malloc'd group recycled by hand; each
# skipped where the kernel lacks it: exit 77).  After each
# run the server is stopped with SIGTERM and must exit 0 with every buffer
# back.  Then the verifying load client runs for two seconds.  TAP output.
set -u

builddir=${top_builddir:-.}
server=$builddir/examples/echo_server
client=$builddir/examples/echo_client
MB=20

if ! command -v socat >/dev/null 2>&1; then
	echo "1..0 # SKIP socat not installed (apt-get install socat)"
	exit 0
fi
if [ ! -x "$server" ] || [ ! -x "$client" ]; then
	echo "1..0 # SKIP $server or $client not built"
	exit 0
fi
to=
command -v timeout >/dev/null 2>&1 && to="timeout 120"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/iobuf-echo.XXXXXX") || exit 1
pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# ok, not_ok: the TAP lines every shell test shares.
. "$(dirname "$0")/common/tap.sh"

# start NAME [OPTIONS...]: tests/common/server.sh.
. "$(dirname "$0")/common/server.sh"

# stop NAME: SIGTERM, exit status 0 and every buffer back.
stop() {
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	pid=
	if [ $rc -eq 0 ] && grep -Eq '^echo_server: (all [0-9]+ buffers back \(in_use 0\)|malloc buffers: .* 0 outstanding)' "$tmp/$1.server"; then
		ok "$1: server stopped by SIGTERM, every buffer back"
	else
		not_ok "$1: server exit $rc, or buffers not back" "$tmp/$1.server"
	fi
}

# echo_file NAME IN: one socat run, compared byte for byte.
echo_file() {
	$to socat -t 60 -T 60 - "TCP:127.0.0.1:$port" <"$2" >"$tmp/$1.out" 2>"$tmp/$1.err"
	rc=$?
	if [ $rc -eq 0 ] && cmp "$2" "$tmp/$1.out" >"$tmp/$1.cmp" 2>&1; then
		ok "$1: $(wc -c <"$2") bytes echoed intact through socat"
	else
		not_ok "$1: socat exit $rc, or the echo differs" "$tmp/$1.err" "$tmp/$1.cmp" "$tmp/$1.server"
	fi
}

echo "1..18"
head -c $((MB * 1000 * 1000)) /dev/urandom >"$tmp/in"
head -c $((5 * 1000 * 1000)) /dev/urandom >"$tmp/in5"

# 1-2: the defaults.
if start default; then
	echo_file default "$tmp/in"
	stop default
else
	not_ok "default: server did not start" "$tmp/default.server"
	not_ok "default: no stop"
fi

# 3-6: a pool of 8 buffers that one connection may hold whole
# (--conn-buffers 8; by default it would hold one); its reader sleeps 2 s,
# so the server's writes block, its queue holds every buffer and both
# connections find the tier empty.  Nothing may be lost or spin.
if start tiny --buffers 8 --burst 4 --conn-buffers 8; then
	($to socat -t 60 -T 60 - "TCP:127.0.0.1:$port" <"$tmp/in" 2>"$tmp/slow.err" | (sleep 2; cat >"$tmp/slow.out")) &
	slow=$!
	sleep 0.5
	echo_file tiny "$tmp/in5"
	if wait $slow && cmp "$tmp/in" "$tmp/slow.out" >"$tmp/slow.cmp" 2>&1; then
		ok "tiny: the slow reader's 20 MB echoed intact"
	else
		not_ok "tiny: the slow reader's echo differs" "$tmp/slow.err" "$tmp/slow.cmp"
	fi
	stop tiny
	stalls=$(sed -n 's/^echo_server: backpressure: \([0-9]*\) reads stopped.*/\1/p' "$tmp/tiny.server")
	if [ "${stalls:-0}" -gt 0 ]; then
		ok "tiny: backpressure: $stalls reads stopped on an empty tier, none lost"
	else
		not_ok "tiny: the tier never ran empty: backpressure not exercised" "$tmp/tiny.server"
	fi
else
	not_ok "tiny: server did not start" "$tmp/tiny.server"
	not_ok "tiny: no slow reader"
	not_ok "tiny: no stop"
	not_ok "tiny: no backpressure"
fi

# 7-8: four connections at once on two workers sharing the pool.
if start threads --threads 2 --buffers 64; then
	pids=
	for c in 1 2 3 4; do
		($to socat -t 60 -T 60 - "TCP:127.0.0.1:$port" <"$tmp/in5" >"$tmp/t$c.out" 2>"$tmp/t$c.err") &
		pids="$pids $!"
	done
	good=0
	for p in $pids; do wait "$p" || true; done
	for c in 1 2 3 4; do cmp -s "$tmp/in5" "$tmp/t$c.out" && good=$((good + 1)); done
	if [ $good -eq 4 ]; then
		ok "threads: 4 concurrent connections, 2 workers, each echo intact"
	else
		not_ok "threads: only $good of 4 echoes intact" "$tmp/t1.err" "$tmp/threads.server"
	fi
	stop threads
else
	not_ok "threads: server did not start" "$tmp/threads.server"
	not_ok "threads: no stop"
fi

# 9-10: the malloc baseline runs the same loop.
if start malloc --malloc; then
	echo_file malloc "$tmp/in"
	stop malloc
else
	not_ok "malloc: server did not start" "$tmp/malloc.server"
	not_ok "malloc: no stop"
fi

# uring_case NAME OPTIONS...: the same echo on io_uring, two results; skipped where the kernel or the
# build lacks what OPTIONS need (the server exits 77 before listening).
uring_case() {
	name=$1
	shift
	ran=no
	if start "$name" "$@"; then
		ran=yes
		echo_file "$name" "$tmp/in"
		stop "$name"
	elif wait "$pid"; [ $? -eq 77 ]; then
		n=$((n + 1)); echo "ok $n # SKIP $name: $(tail -1 "$tmp/$name.server")"
		n=$((n + 1)); echo "ok $n # SKIP $name: no server"
	else
		not_ok "$name: server did not start" "$tmp/$name.server"
		not_ok "$name: no stop"
	fi
	pid=
}

# 11-12: io_uring, writes from the registered arena.
uring_case uring --uring
# 13-15: io_uring, zero-copy sends: the echo, the stop, and every send's notification reaped.
uring_case uring-zc --uring --zc
if [ "$ran" = yes ]; then
	zc=$(sed -n 's/^echo_server: zero-copy: \([0-9]*\) sends, \([0-9]*\) notifications$/\1 \2/p' "$tmp/uring-zc.server")
	set -- $zc
	if [ $# -eq 2 ] && [ "$1" -gt 0 ] && [ "$1" -eq "$2" ]; then
		ok "uring-zc: $1 zero-copy sends, each buffer put at its notification"
	else
		not_ok "uring-zc: zero-copy sends and notifications do not match: '$zc'" "$tmp/uring-zc.server"
	fi
else
	n=$((n + 1)); echo "ok $n # SKIP uring-zc: no server"
fi
# 16-17: io_uring over a malloc'd group recycled by hand (the baseline of bench_uring).
uring_case uring-malloc --uring --malloc --buffers 64

# 18: our own load client, briefly, against the default server.
if start client; then
	if $to "$client" --port "$port" --conns 8 --duration 2 --quiet >"$tmp/client.out" 2>&1; then
		kill -TERM "$pid"
		if wait "$pid"; then
			ok "echo_client: 8 connections for 2 s, every byte verified, server clean"
		else
			not_ok "echo_client: server did not stop clean" "$tmp/client.server"
		fi
	else
		not_ok "echo_client failed" "$tmp/client.out" "$tmp/client.server"
		kill -TERM "$pid"
		wait "$pid"
	fi
	pid=
	sed 's/^/# /' "$tmp/client.out" | grep -E 'throughput|round trip'
else
	not_ok "echo_client: server did not start" "$tmp/client.server"
fi
