#!/bin/sh
# SPDX-License-Identifier: MIT
#
# demo.sh SERVER CLIENT - what `make demo` runs.
#
# Starts the echo server on a free loopback port, runs the load client
# against it (DEMO_CONNS connections, DEMO_SECONDS seconds), stops the
# server with SIGTERM, and does it all again with the same server on
# malloc/free buffers (--malloc).  Prints both side by side, with the pool
# statistics that show every buffer back.  Exits 1, loudly, when a client
# saw a byte it did not send, the server lost a buffer, or anything failed.
set -u

server=${1:?usage: demo.sh SERVER CLIENT}
client=${2:?usage: demo.sh SERVER CLIENT}
secs=${DEMO_SECONDS:-10}
conns=${DEMO_CONNS:-64}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/iobuf-demo.XXXXXX") || exit 1
pid=
failed=

cleanup() {
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run MODE [SERVER OPTIONS...]: one server, one client run, one stop.
run() {
	mode=$1
	shift
	echo
	echo "==== $mode server: $server $*"
	"$server" --port 0 --port-file "$tmp/$mode.port" --quiet "$@" >"$tmp/$mode.server" 2>&1 &
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
	head -1 "$tmp/$mode.server"
	echo "==== client: $conns connections to 127.0.0.1:$port for $secs s"
	crc=0
	"$client" --port "$port" --conns "$conns" --duration "$secs" >"$tmp/$mode.client" || crc=$?
	cat "$tmp/$mode.client"
	kill -TERM "$pid"
	src=0
	wait "$pid" || src=$?
	pid=
	sed 1d "$tmp/$mode.server"
	[ "$crc" -eq 0 ] || failed="$failed $mode-client(exit $crc)"
	[ "$src" -eq 0 ] || failed="$failed $mode-server(exit $src)"
}

field() { # field MODE NAME: a value of the client's RESULT line
	sed -n "s/^RESULT.* $2=\([^ ]*\).*/\1/p" "$tmp/$1.client"
}

run iobuf
run malloc --malloc

pool_line=$(grep -E '^echo_server: (all .* back|LEAK)' "$tmp/iobuf.server" | sed 's/^echo_server: //')
malloc_line=$(grep -E '^echo_server: malloc buffers' "$tmp/malloc.server" | sed 's/^echo_server: malloc buffers: //')
verified() { if grep -q '^RESULT.* failed=0$' "$tmp/$1.client"; then echo yes; else echo NO; fi; }

echo
echo "================ iobuf demo: echo server, $conns connections, $secs s each ================"
printf '%-13s %10s %10s %10s %10s  %-8s  %s\n' server 'MB/s' 'p50 us' 'p90 us' 'p99 us' verified buffers
for m in iobuf malloc; do
	printf '%-13s %10s %10s %10s %10s  %-8s  ' "$m" "$(field $m mbps)" "$(field $m p50_us)" \
		"$(field $m p90_us)" "$(field $m p99_us)" "$(verified $m)"
	if [ $m = iobuf ]; then echo "$pool_line"; else echo "$malloc_line"; fi
done
a=$(field iobuf mbps)
b=$(field malloc mbps)
if [ -n "$a" ] && [ -n "$b" ]; then
	awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "iobuf / malloc throughput: %.2fx\n", a / b }'
fi
echo "pool statistics of the iobuf server at exit:"
sed -n '/^tier /,/^spills:/p' "$tmp/iobuf.server"
echo "(MB = 10^6 bytes; latency: from a send to the echo of its last byte, under full load.)"

if [ -n "$failed" ]; then
	echo
	echo "demo: FAILED:$failed" >&2
	exit 1
fi
echo "demo: ok, every byte verified, every buffer back"
