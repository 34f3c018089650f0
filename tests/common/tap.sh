# SPDX-License-Identifier: MIT
# tap.sh - the TAP lines of the shell tests, sourced by each (". tests/common/tap.sh").
#
#   ok NAME              the next test passed
#   not_ok NAME [FILE]...  the next test failed; the last 30 lines of each FILE as comments

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
