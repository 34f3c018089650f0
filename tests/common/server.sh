# SPDX-License-Identifier: MIT
# server.sh - start and stop the server of a shell test (sourced after tap.sh,
# once $server and $tmp are set).
#
#   start NAME [OPTIONS...]  run $server on a free loopback port with $server_opts and
#                            OPTIONS, its output in $tmp/NAME.server; sets $pid and $port
#                            (and resets $snaps, the SIGUSR1 snapshots asked of it).
#                            Returns 1 when it dies or has no port within 30 s.
#   stop NAME [REGEX...]     SIGTERM to $pid, which must exit 0 with every buffer back
#                            ("$server's name: all N buffers back (in_use 0)"; not asked
#                            when $server_unpooled matches its output) and print each REGEX.
#   check STATUS NAME FILES...  ok NAME when STATUS is 0, else not_ok with FILES.
#   wait_line FILE REGEX SECONDS  until a line of FILE matches (0), or the deadline (1).
#
# On exit, $pid and the processes in $bg are killed and $tmp is removed.

cleanup() {
	[ -n "${pid:-}" ] && kill -KILL "$pid" 2>/dev/null
	for p in ${bg:-}; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

start() {
	name=$1
	shift
	snaps=0
	rm -f "$tmp/port"
	# shellcheck disable=SC2086 # $server_opts: words
	"$server" --port 0 --port-file "$tmp/port" ${server_opts:-} "$@" >"$tmp/$name.server" 2>&1 &
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

stop() {
	name=$1
	shift
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	pid=
	good=1
	[ $rc -eq 0 ] || good=
	if [ -z "${server_unpooled:-}" ] || ! grep -Eq "$server_unpooled" "$tmp/$name.server"; then
		grep -Eq "^${server##*/}: all [0-9]+ buffers back \(in_use 0\)" "$tmp/$name.server" || good=
	fi
	for re in "$@"; do
		grep -Eq "$re" "$tmp/$name.server" || { good= && echo "# not in the report: $re"; }
	done
	if [ -n "$good" ]; then
		ok "$name: ${server_what:-server} stopped by SIGTERM, every buffer back, the report as expected"
	else
		not_ok "$name: ${server_what:-server} exit $rc, buffers not back, or the report differs" "$tmp/$name.server"
	fi
}

check() {
	rc=$1
	shift
	if [ "$rc" -eq 0 ]; then ok "$1"; else not_ok "$@"; fi
}

wait_line() {
	end=$(($(date +%s) + $3))
	while ! grep -Eq "$2" "$1" 2>/dev/null; do
		[ "$(date +%s)" -ge $end ] && return 1
		sleep 0.05
	done
}
