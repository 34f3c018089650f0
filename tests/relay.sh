#!/bin/sh
# SPDX-License-Identifier: MIT
#
# relay.sh - the fan-out relay (examples/relay_server) with verified
# publishers and subscribers (examples/relay_client).  TAP output.
#
#   fanout    2 publishers, 3 subscribers that read and one that never
#             does: each reader verifies every byte of every message, and
#             gets them all; the non-reader is lapped (the relay says so)
#             and closed after the write timeout; the publishers never
#             wait for it.  On the pool and with --copy.
#   slow      a subscriber reading slowly beside one that keeps up: the
#             slow one is lapped, every message it gets verifies and every
#             gap was announced; the other gets every message.
#   hostile   publishers that send a length of 0, of 0xfffffff0, of 5, a
#             bad role byte, half a message and away, and subscribers that
#             never read: each closed, nothing delivered of them, the
#             subscriber beside them gets exactly the good messages.
#
# After each run the relay is stopped with SIGTERM and must exit 0 with
# every buffer back (in_use 0).  Every wait is for an observable state (a
# line of output, a process' exit), bounded by a generous deadline.
set -u

builddir=${top_builddir:-.}
server=$builddir/examples/relay_server
client=$builddir/examples/relay_client

if [ ! -x "$server" ] || [ ! -x "$client" ]; then
	echo "1..0 # SKIP $server or $client not built"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/iobuf-relay.XXXXXX") || exit 1
pid=
bg=

. "$(dirname "$0")/common/tap.sh"
# start, stop (the copying relay keeps no pool), check, wait_line.
server_what=relay
server_unpooled='copy per subscriber'
. "$(dirname "$0")/common/server.sh"

echo "1..15"

# ---- fanout: 2 publishers, 3 readers, 1 non-reader -------------------------------
for mode in iobuf copy; do
	opt=
	[ $mode = copy ] && opt=--copy
	# shellcheck disable=SC2086 # $opt: a word or none
	start "fanout-$mode" --write-timeout 1000 --sub-buffers 96 --sub-bytes 131072 $opt ||
		not_ok "fanout-$mode: relay did not start" "$tmp/fanout-$mode.server"
	"$client" -p "$port" -m nonreader -c 1 -d 120 >"$tmp/$mode.nr" 2>&1 &
	nrpid=$!
	bg=$nrpid
	wait_line "$tmp/$mode.nr" '^READY' 120
	# The publishers keep within a window of the 3 readers (-m bench), never of the non-reader.
	brc=0
	"$client" -p "$port" -m bench -c 2 -S 3 -L 0 -n 3000 -w 16 -d 120 >"$tmp/$mode.sub" 2>&1 || brc=$?
	nrc=0
	wait "$nrpid" || nrc=$?
	bg=
	[ $brc -eq 0 ] && grep -q '^RESULT.* subs=3 msgs=18000 .* missed=0 .*failed=0$' "$tmp/$mode.sub"
	check $? "fanout-$mode: 2 publishers x 3000 messages, 3 subscribers got all 18000, every byte verified" \
		"$tmp/$mode.sub"
	[ $nrc -eq 0 ] && grep -Eq '^relay_server: subscriber [0-9]+ closed \(write timeout\): .* lapped [1-9][0-9]* times, missed [1-9]' \
		"$tmp/fanout-$mode.server"
	check $? "fanout-$mode: the non-reader was lapped, then closed on the write timeout" "$tmp/$mode.nr" \
		"$tmp/fanout-$mode.server"
	stop "fanout-$mode" ' sub_timeouts=1 ' ' errors=0 '
done

# ---- slow: lapped, every gap announced -------------------------------------------
start slow --write-timeout 0 --sub-buffers 80 --sub-bytes 65536 || not_ok "slow: relay did not start" "$tmp/slow.server"
brc=0
"$client" -p "$port" -m bench -c 2 -S 1 -L 1 -r 300000 -n 4000 -w 8 -d 120 >"$tmp/slow.bench" 2>&1 || brc=$?
[ $brc -eq 0 ] && grep -Eq '^RESULT.* msgs=8000 .* missed=0 .* slow_missed=[1-9][0-9]* slow_notices=[1-9].* failed=0$' \
	"$tmp/slow.bench"
check $? "slow: the slow subscriber was lapped, its gaps announced and its messages verified; the other got all" \
	"$tmp/slow.bench"
stop slow ' laps=[1-9]' ' errors=0 '

# ---- hostile ---------------------------------------------------------------------
start hostile --write-timeout 1000 --max-message 4096 || not_ok "hostile: relay did not start" "$tmp/hostile.server"
"$client" -p "$port" -m nonreader -c 4 -d 120 >"$tmp/h.nr" 2>&1 &
nrpid=$!
bg=$nrpid
wait_line "$tmp/h.nr" '^READY' 120
all=0
for m in zero huge short role; do
	"$client" -p "$port" -m $m -c 3 -d 120 >"$tmp/h.$m" 2>&1 && grep -q '^RESULT.* closed=3$' "$tmp/h.$m"
	check $? "hostile: the relay closed 3 publishers of mode $m" "$tmp/h.$m"
done
"$client" -p "$port" -m cut -c 3 -i 7 -d 120 >"$tmp/h.cut" 2>&1
check $? "hostile: 3 publishers sent half a message and left" "$tmp/h.cut"
wait_line "$tmp/hostile.server" 'cut mid-message' 120 || all=1
"$client" -p "$port" -m bench -c 1 -S 1 -L 0 -n 2000 -w 16 -d 120 >"$tmp/h.sub" 2>&1 || all=1
wait "$nrpid" || all=1
bg=
[ $all -eq 0 ] && grep -q '^RESULT.* subs=1 msgs=2000 .* missed=0 .*failed=0$' "$tmp/h.sub" &&
	grep -q '^RESULT.* closed_early=4 ' "$tmp/h.nr"
check $? "hostile: beside them a subscriber got exactly the 2000 good messages; 4 non-readers were closed" \
	"$tmp/h.sub" "$tmp/h.nr" "$tmp/hostile.server"
stop hostile ' bad_len=9 ' ' bad_role=3 ' ' cut=3 ' ' sub_timeouts=4 ' ' errors=0 '
