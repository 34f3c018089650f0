# SPDX-License-Identifier: MIT
# server.sh - start the echo server for the shell tests (sourced after tap.sh).
#
#   start NAME [OPTIONS...]  run $server on a free loopback port with $server_opts and
#                            OPTIONS, its output in $tmp/NAME.server; sets $pid and $port
#                            (and resets $snaps, the SIGUSR1 snapshots asked of it).
#                            Returns 1 when it dies or has no port within 30 s.

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
