#!/bin/sh
# SPDX-License-Identifier: MIT
#
# echo_attack.sh - the echo server under hostile clients (examples/echo_client
# --mode nonreader|oob|idle), beside verified streams.  TAP output.
#
#   oob        bytes after TCP urgent data are echoed without the client
#              sending more, the urgent byte in line, over several turns
#   admission  64 connections against 2 workers x 32 slots, and 64 verified
#              streams against 4 x 16: none refused; the 65th is
#
# After each run the server is stopped with SIGTERM and must exit 0 with
# every buffer back.  Every wait is for an observable state (a line of
# output, a process' exit), bounded by a generous deadline.
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
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	for p in $bg; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

n=0
ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}
not_ok() {
	n=$((n + 1))
	echo "not ok $n - $1"
	shift
	for f in "$@"; do
		[ -f "$f" ] && sed 's/^/# /' "$f" | tail -30
	done
}
# check COND-EXIT-STATUS NAME FILES...: ok when the previous command succeeded.
check() {
	rc=$1
	shift
	if [ "$rc" -eq 0 ]; then ok "$1"; else not_ok "$@"; fi
}

# start NAME [OPTIONS...]: start a server, set $port.
start() {
	name=$1
	shift
	rm -f "$tmp/port"
	"$server" --port 0 --port-file "$tmp/port" --quiet "$@" >"$tmp/$name.server" 2>&1 &
	pid=$!
	i=0
	while [ ! -s "$tmp/port" ]; do
		if ! kill -0 "$pid" 2>/dev/null || [ $i -ge 600 ]; then
			port=
			return 1
		fi
		sleep 0.05
		i=$((i + 1))
	done
	port=$(cat "$tmp/port")
}

# stop NAME [REGEX...]: SIGTERM, exit status 0, every buffer back, and each
# REGEX found in the server's report.
stop() {
	name=$1
	shift
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	pid=
	good=1
	[ $rc -eq 0 ] || good=
	grep -Eq '^echo_server: all [0-9]+ buffers back \(in_use 0\)' "$tmp/$name.server" || good=
	for re in "$@"; do
		grep -Eq "$re" "$tmp/$name.server" || { good= && echo "# not in the report: $re"; }
	done
	if [ -n "$good" ]; then
		ok "$name: server stopped by SIGTERM, every buffer back, the report as expected"
	else
		not_ok "$name: server exit $rc, buffers not back, or the report differs" "$tmp/$name.server"
	fi
}

# wait_line FILE REGEX SECONDS: until a line of FILE matches (0), or the deadline (1).
wait_line() {
	end=$(($(date +%s) + $3))
	while ! grep -Eq "$2" "$1" 2>/dev/null; do
		[ "$(date +%s)" -ge $end ] && return 1
		sleep 0.05
	done
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

echo "1..9"

# 1-4: urgent data.  First a pool no larger than one connection's bound, so
# that the client's holder connection keeps the server from reading until
# every urgent round sits whole in its socket buffers, 100 kB before the
# mark; one buffer per readv (--burst 1) makes that several turns of 8
# reads, which must follow each other without a new edge.  Then the
# defaults.
if start oob --buffers 16 --burst 1; then
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

# 5-9: admission.  64 connections against 2 workers x 32 slots, opened one
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
