#!/bin/sh
# SPDX-License-Identifier: MIT
#
# relay_demo.sh SERVER CLIENT [ROUNDS] - the fan-out relay in `make demo`
# (one round) and `make bench-relay` (ROUNDS rounds, medians).
#
# For each count of subscribers in RELAY_SUBS (default "1 8 64") and each
# relay (the pool, zero copy; --copy, malloc and one copy per subscriber),
# starts the relay, runs 2 publishers of RELAY_COUNT messages each and the
# subscribers that keep up, beside one slow subscriber (reading 1 MB/s),
# in one relay_client --mode bench, then stops the relay with SIGTERM.
# Prints a table: MB/s delivered to the subscribers that keep up, copies
# per message, the relay's peak RSS, what the slow subscriber got (lapped:
# the messages it was told it missed; or disconnected), and whether every
# byte verified and every buffer came back; with ROUNDS > 1, the medians
# and the ratio iobuf / malloc.  Exits 1 when anything failed.
set -u

server=${1:?usage: relay_demo.sh SERVER CLIENT [ROUNDS]}
client=${2:?usage: relay_demo.sh SERVER CLIENT [ROUNDS]}
rounds=${3:-1}
subs_list=${RELAY_SUBS:-1 8 64}
count=${RELAY_COUNT:-4000}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/iobuf-relay-demo.XXXXXX") || exit 1
pid=
failed=
cleanup() {
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

field() { sed -n "s/^RESULT.* $2=\([^ ]*\).*/\1/p" "$1" | head -1; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }

# one MODE SUBS ROUND: one relay, one bench client, one stop.
one() {
	f=$tmp/$1.$2.$3
	opt=
	[ "$1" = malloc ] && opt=--copy
	rm -f "$tmp/port"
	# shellcheck disable=SC2086 # $opt: a word or none
	"$server" --port 0 --port-file "$tmp/port" --quiet --write-timeout 10000 --conns 128 $opt >"$f.server" 2>&1 &
	pid=$!
	i=0
	while [ ! -s "$tmp/port" ]; do
		if ! kill -0 "$pid" 2>/dev/null || [ $i -ge 200 ]; then
			echo "relay demo: FAILED: the $1 relay did not start" >&2
			cat "$f.server" >&2
			exit 1
		fi
		sleep 0.05
		i=$((i + 1))
	done
	crc=0
	"$client" -p "$(cat "$tmp/port")" -m bench -c 2 -S "$2" -L 1 -r 1000000 -n "$count" -w 16 -d 300 >"$f.client" 2>&1 ||
		crc=$?
	kill -TERM "$pid"
	src=0
	wait "$pid" || src=$?
	pid=
	[ $crc -eq 0 ] || failed="$failed $1-$2-client(exit $crc)"
	[ $src -eq 0 ] || failed="$failed $1-$2-relay(exit $src)"
	if [ $crc -eq 0 ] && [ $src -eq 0 ]; then echo yes >"$f.ok"; else echo NO >"$f.ok"; fi
}

for s in $subs_list; do
	r=1
	while [ $r -le "$rounds" ]; do
		one iobuf "$s" $r
		one malloc "$s" $r
		r=$((r + 1))
	done
done

echo
echo "========== fan-out relay: 2 publishers x $count messages to N subscribers that keep up, beside 1 slow one =========="
[ "$rounds" -gt 1 ] && echo "(medians of $rounds rounds)"
printf '%-5s | %-27s | %-19s | %-19s | %-35s | %s\n' '' 'MB/s delivered' 'copies per message' 'peak RSS (MiB)' \
	'slow subscriber (1 MB/s)' 'verified, buffers back'
printf '%5s | %8s %8s %9s | %8s %10s | %8s %10s | %-17s %-17s | %s\n' subs iobuf malloc iobuf/mal iobuf malloc iobuf \
	malloc iobuf malloc 'iobuf malloc'
for s in $subs_list; do
	line=$(printf '%5s |' "$s")
	for m in iobuf malloc; do
		eval "${m}_mbps=\$(for r in \$(seq 1 $rounds); do field $tmp/$m.$s.\$r.client mbps; done | median)"
		eval "${m}_cpm=\$(field $tmp/$m.$s.1.server copies_per_msg)"
		eval "${m}_rss=\$(for r in \$(seq 1 $rounds); do field $tmp/$m.$s.\$r.server peak_rss_kib; done | median)"
		f=$tmp/$m.$s.1.client
		if [ "$(field "$f" slow_closed)" = 1 ]; then
			eval "${m}_slow='disconnected'"
		else
			eval "${m}_slow=\"lapped, missed \$(field $f slow_missed)\""
		fi
		ok=yes
		for r in $(seq 1 "$rounds"); do [ "$(cat "$tmp/$m.$s.$r.ok")" = yes ] || ok=NO; done
		eval "${m}_ok=$ok"
	done
	# shellcheck disable=SC2154 # set by the eval above
	ratio=$(awk -v a="$iobuf_mbps" -v b="$malloc_mbps" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }')
	# shellcheck disable=SC2154
	printf '%s %8s %8s %9s | %8s %10s | %8s %10s | %-17s %-17s | %s %s\n' "$line" "$iobuf_mbps" "$malloc_mbps" "$ratio" \
		"$iobuf_cpm" "$malloc_cpm" "$(awk -v k="$iobuf_rss" 'BEGIN { printf "%.1f", k / 1024 }')" \
		"$(awk -v k="$malloc_rss" 'BEGIN { printf "%.1f", k / 1024 }')" "$iobuf_slow" "$malloc_slow" "$iobuf_ok" \
		"$malloc_ok"
done
echo
echo "the relay's own CPU time per MB it delivered (user + system since it began serving, microseconds; medians):"
echo "what delivery costs the relay, whatever limits the clients (which verify every byte on one thread)"
printf '%5s | %10s %10s %9s\n' subs iobuf malloc iobuf/mal
for s in $subs_list; do
	for m in iobuf malloc; do
		eval "${m}_cpu=\$(for r in \$(seq 1 $rounds); do awk -v c=\"\$(field $tmp/$m.$s.\$r.server cpu_us)\" \
			-v b=\"\$(field $tmp/$m.$s.\$r.server bytes_out)\" 'BEGIN { if (b > 0) printf \"%.1f\\n\", c / (b / 1e6); }'; done | median)"
	done
	# shellcheck disable=SC2154 # set by the eval above
	printf '%5s | %10s %10s %9s\n' "$s" "$iobuf_cpu" "$malloc_cpu" \
		"$(awk -v a="$iobuf_cpu" -v b="$malloc_cpu" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }')"
done
echo "iobuf: each message read once into the pool and written to every subscriber from shared slices (0 copies);"
echo "  its pool is reserved and prefaulted at start.  malloc: one copy of each message per subscriber."
echo "Both lap a slow subscriber within its quota (256 buffers / 1 MiB) and tell it in band how many it missed."
echo "(MB = 10^6 bytes delivered to the subscribers that keep up, from the first message to the last.)"
if [ -n "$failed" ]; then
	echo "relay demo: FAILED:$failed" >&2
	exit 1
fi
echo "relay demo: ok, every byte verified, every buffer back"
