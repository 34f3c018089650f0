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
# buffers (--malloc), on io_uring (--uring: receives into buffers the
# kernel picks from a ring fed from the tier, writes from the registered
# arena) and on io_uring with zero-copy sends (--uring --zc).  Prints them
# side by side, with the pool statistics that show every buffer back; an
# io_uring row the kernel cannot run (the server exits 77) says why and is
# skipped.  Exits 1, loudly, when a client saw a byte it did not send, a
# server lost a buffer, or anything failed.
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
skipped=

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

# run MODE [SERVER OPTIONS...]: one server, the two phases, one stop.  A server
# that exits 77 before listening (io_uring missing here) leaves its reason in
# $tmp/MODE.skip.
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
			src=0
			kill -0 "$pid" 2>/dev/null || { wait "$pid" || src=$?; }
			pid=
			if [ "$src" -eq 77 ]; then
				sed -n 's/^echo_server: //p' "$tmp/$mode.server" | tail -1 >"$tmp/$mode.skip"
				echo "demo: $mode skipped: $(cat "$tmp/$mode.skip")"
				skipped="$skipped $mode"
				return 0
			fi
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

modes="iobuf malloc uring uring-zc"
run iobuf
run malloc --malloc
run uring --uring
run uring-zc --uring --zc

echo
echo "========== iobuf demo: echo server, $conns verified streams, then $nonreaders non-readers beside them =========="
printf '%-8s | %-29s | %-42s | %s\n' '' "streams alone ($alone s)" "beside $nonreaders non-readers ($attack s)" \
	'resident memory (MiB)'
printf '%-8s | %8s %8s %-10s | %8s %8s %-8s %-15s | %6s %8s %8s\n' server 'MB/s' 'p99 us' verified 'MB/s' 'p99 us' \
	verified 'closed by srv' start streams attack
for m in $modes; do
	if [ -s "$tmp/$m.skip" ]; then
		printf '%-8s | skipped: %s\n' "$m" "$(cat "$tmp/$m.skip")"
		continue
	fi
	printf '%-8s | %8s %8s %-10s | %8s %8s %-8s %-15s | %6s %8s %8s\n' "$m" \
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
echo "servers: iobuf = epoll + readv/writev into pooled buffers; malloc = the same loop on malloc/free;"
echo "  uring = io_uring, multishot receives into buffers the kernel picks from a ring fed from the tier,"
echo "  writes from the registered arena; uring-zc = the same with zero-copy sends (send_zc), each buffer"
echo "  put when the kernel's notification says it is no longer read (on the loopback the kernel copies)."
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
for m in uring uring-zc; do
	u=$(field "$tmp/$m.client" mbps 2>/dev/null)
	if [ -n "$a" ] && [ -n "$u" ]; then
		awk -v a="$a" -v u="$u" -v m="$m" 'BEGIN { if (a > 0) printf "%s / iobuf (epoll) throughput, streams alone: %.2fx\n", m, u / a }'
	fi
done
back() { grep -E '^echo_server: (all .* back|[0-9]+ BUFFERS NOT BACK|LEAK)' "$tmp/$1.server" | sed 's/^echo_server: //'; }
malloc_line=$(grep -E '^echo_server: malloc buffers' "$tmp/malloc.server" | sed 's/^echo_server: malloc buffers: //')
echo "buffers at exit: iobuf: $(back iobuf); malloc: $malloc_line"
for m in uring uring-zc; do
	[ -s "$tmp/$m.skip" ] || echo "  $m: $(back "$m")"
done
[ -s "$tmp/uring-zc.skip" ] || sed -n 's/^echo_server: zero-copy: \(.*\)/  uring-zc: zero-copy: \1 (each put a buffer back)/p' "$tmp/uring-zc.server"
echo "pool statistics of the iobuf server at exit:"
sed -n '/^tier /,/^spills:/p' "$tmp/iobuf.server"
echo "(MB = 10^6 bytes; latency: from a send to the echo of its last byte, under full load.)"

${SHELL:-sh} "$(dirname "$0")/relay_demo.sh" "$(dirname "$server")/relay_server" "$(dirname "$client")/relay_client" || failed="$failed relay"
if [ -n "$failed" ]; then
	echo
	echo "demo: FAILED:$failed" >&2
	exit 1
fi
if [ -n "$skipped" ]; then
	echo "demo: ok, every byte verified, every non-reader closed, every buffer back (skipped here:$skipped)"
else
	echo "demo: ok, every byte verified, every non-reader closed, every buffer back"
fi
