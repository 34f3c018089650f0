#!/bin/sh
# SPDX-License-Identifier: MIT
#
# demo.sh SERVER CLIENT - what `make demo` runs.
#
# Starts the echo server on a free loopback port and, for DEMO_SECONDS in
# all, streams verified data through it from DEMO_CONNS connections: first
# alone, then for the last DEMO_ATTACK_SECONDS beside DEMO_NONREADERS
# clients that send and never read (the server closes them after its
# write timeout, DEMO_WRITE_TIMEOUT ms).  It reads the server's resident
# memory from /proc (VmRSS at start, VmHWM after each phase), stops it
# with SIGTERM, and does it all again with the same server on malloc/free
# buffers (--malloc).  Prints both side by side, with the pool statistics
# that show every buffer back.  Exits 1, loudly, when a client saw a byte
# it did not send, the server lost a buffer, or anything failed.
set -u

server=${1:?usage: demo.sh SERVER CLIENT}
client=${2:?usage: demo.sh SERVER CLIENT}
secs=${DEMO_SECONDS:-10}
attack=${DEMO_ATTACK_SECONDS:-4}
conns=${DEMO_CONNS:-64}
nonreaders=${DEMO_NONREADERS:-128}
wto=${DEMO_WRITE_TIMEOUT:-2000}
[ "$attack" -ge 1 ] || attack=1
[ "$secs" -gt "$attack" ] || secs=$((attack + 1))
alone=$((secs - attack))
tmp=$(mktemp -d "${TMPDIR:-/tmp}/iobuf-demo.XXXXXX") || exit 1
pid=
nrpid=
failed=

cleanup() {
	[ -n "$nrpid" ] && kill -TERM "$nrpid" 2>/dev/null
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# What the server prints once listening.
header='^echo_server: (listening on|pool:|[0-9]+ connections at most)'

# vm PID FIELD: a field of /proc/PID/status, in KiB.
vm() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null; }

# run MODE [SERVER OPTIONS...]: one server, the two phases, one stop.
run() {
	mode=$1
	shift
	echo
	echo "==== $mode server: $server --write-timeout $wto $*"
	"$server" --port 0 --port-file "$tmp/$mode.port" --quiet --write-timeout "$wto" "$@" >"$tmp/$mode.server" 2>&1 &
	pid=$!
	i=0
	while [ ! -s "$tmp/$mode.port" ]; do
		if ! kill -0 "$pid" 2>/dev/null || [ $i -ge 100 ]; then
			cat "$tmp/$mode.server"
			echo "demo: FAILED: the $mode server did not start" >&2
			exit 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	port=$(cat "$tmp/$mode.port")
	grep -E "$header" "$tmp/$mode.server"
	vm "$pid" VmRSS >"$tmp/$mode.rss0"

	echo "==== client: $conns connections to 127.0.0.1:$port for $alone s"
	crc=0
	"$client" --port "$port" --conns "$conns" --duration "$alone" >"$tmp/$mode.client" || crc=$?
	cat "$tmp/$mode.client"
	vm "$pid" VmHWM >"$tmp/$mode.rss1"
	[ "$crc" -eq 0 ] || failed="$failed $mode-client(exit $crc)"

	echo "==== attack: $nonreaders connections that send and never read, beside $conns streams for $attack s"
	"$client" --port "$port" --mode nonreader --conns "$nonreaders" --duration $((attack + wto / 1000 + 20)) \
		>"$tmp/$mode.nr" 2>&1 &
	nrpid=$!
	i=0
	while ! grep -q '^STALLED' "$tmp/$mode.nr" && kill -0 "$nrpid" 2>/dev/null && [ $i -lt 300 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	crc=0
	"$client" --port "$port" --conns "$conns" --duration "$attack" >"$tmp/$mode.attack" || crc=$?
	cat "$tmp/$mode.attack"
	[ "$crc" -eq 0 ] || failed="$failed $mode-client-under-attack(exit $crc)"
	nrc=0
	wait "$nrpid" || nrc=$?
	nrpid=
	grep -E '^(RESULT|echo_client)' "$tmp/$mode.nr"
	[ "$nrc" -eq 0 ] || failed="$failed $mode-nonreaders-not-closed(exit $nrc)"
	vm "$pid" VmHWM >"$tmp/$mode.rss2"

	kill -TERM "$pid"
	src=0
	wait "$pid" || src=$?
	pid=
	grep -vE "$header" "$tmp/$mode.server"
	[ "$src" -eq 0 ] || failed="$failed $mode-server(exit $src)"
}

field() { # field FILE NAME: a value of the RESULT line in FILE
	sed -n "s/^RESULT.* $2=\([^ ]*\).*/\1/p" "$1"
}
verified() { if grep -q '^RESULT.* failed=0$' "$1"; then echo yes; else echo NO; fi; }
mib() { awk -v k="${1:-0}" 'BEGIN { printf "%.1f", k / 1024 }'; }

run iobuf
run malloc --malloc

echo
echo "========== iobuf demo: echo server, $conns verified streams, then $nonreaders non-readers beside them =========="
printf '%-7s | %-29s | %-42s | %s\n' '' "streams alone ($alone s)" "beside $nonreaders non-readers ($attack s)" \
	'resident memory (MiB)'
printf '%-7s | %8s %8s %-10s | %8s %8s %-8s %-15s | %6s %8s %8s\n' server 'MB/s' 'p99 us' verified 'MB/s' 'p99 us' \
	verified 'closed by srv' start streams attack
for m in iobuf malloc; do
	printf '%-7s | %8s %8s %-10s | %8s %8s %-8s %-15s | %6s %8s %8s\n' "$m" \
		"$(field "$tmp/$m.client" mbps)" "$(field "$tmp/$m.client" p99_us)" "$(verified "$tmp/$m.client")" \
		"$(field "$tmp/$m.attack" mbps)" "$(field "$tmp/$m.attack" p99_us)" "$(verified "$tmp/$m.attack")" \
		"$(field "$tmp/$m.nr" closed)/$nonreaders" \
		"$(mib "$(cat "$tmp/$m.rss0")")" "$(mib "$(cat "$tmp/$m.rss1")")" "$(mib "$(cat "$tmp/$m.rss2")")"
done
bound=$(sed -n 's/.*each holds at most \([0-9]*\) buffers (\([0-9]*\) KiB).*/\1 buffers (\2 KiB)/p' "$tmp/iobuf.server")
pool=$(sed -n 's/^echo_server: pool: \([0-9]*\) buffers, \([0-9.]*\) MiB.*/\1 buffers, \2 MiB/p' "$tmp/iobuf.server")
growth() { # growth MODE: what the attack added to the peak
	awk -v a="$(cat "$tmp/$1.rss1")" -v b="$(cat "$tmp/$1.rss2")" 'BEGIN { printf "%+.1f MiB", (b - a) / 1024 }'
}
echo "memory: start = VmRSS once listening; streams, attack = VmHWM (peak) after each phase."
echo "  iobuf: the pool ($pool) is reserved and prefaulted at start, so what the data can"
echo "         cost is known before the first client; the attack moved its peak by $(growth iobuf)."
echo "  malloc: memory follows the clients; the attack moved its peak by $(growth malloc)."
echo "non-readers: each connection holds at most $bound; its peer draining none of it for"
echo "  $wto ms loses its connection (the write timeout), its buffers go back; the streams go on."
a=$(field "$tmp/iobuf.client" mbps)
b=$(field "$tmp/malloc.client" mbps)
if [ -n "$a" ] && [ -n "$b" ]; then
	awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "iobuf / malloc throughput, streams alone: %.2fx\n", a / b }'
fi
pool_line=$(grep -E '^echo_server: (all .* back|LEAK)' "$tmp/iobuf.server" | sed 's/^echo_server: //')
malloc_line=$(grep -E '^echo_server: malloc buffers' "$tmp/malloc.server" | sed 's/^echo_server: malloc buffers: //')
echo "buffers at exit: iobuf: $pool_line; malloc: $malloc_line"
echo "pool statistics of the iobuf server at exit:"
sed -n '/^tier /,/^spills:/p' "$tmp/iobuf.server"
echo "(MB = 10^6 bytes; latency: from a send to the echo of its last byte, under full load.)"

${SHELL:-sh} "$(dirname "$0")/relay_demo.sh" "$(dirname "$server")/relay_server" "$(dirname "$client")/relay_client" || failed="$failed relay"
if [ -n "$failed" ]; then
	echo
	echo "demo: FAILED:$failed" >&2
	exit 1
fi
echo "demo: ok, every byte verified, every non-reader closed, every buffer back"
