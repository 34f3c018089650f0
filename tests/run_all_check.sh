#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run_all_check.sh - the checks of CI can fail.  TAP.
#
# tests/exports_check.sh against small libraries built here, each with one
# fault (an internal symbol exported but not named, a public one not
# listed, a listed one missing, a wildcard, a wrong version node), and the
# steps of tests/run-all.sh with nothing to check: valgrind over an empty
# build, the bench smoke run with no Makefile or no target, a step whose
# prerequisite failed.  Each must fail, and say why.
set -u

top=${top_srcdir:-${srcdir:-.}}
runall=$top/tests/run-all.sh
exports=$top/tests/exports_check.sh
cc=${CC:-cc}

if [ ! -f "$runall" ] || [ ! -f "$exports" ]; then
	echo "1..0 # SKIP no $runall or $exports (set top_srcdir)"
	exit 0
fi
if ! command -v bash >/dev/null 2>&1; then
	echo "1..0 # SKIP bash not installed"
	exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/iobuf-runall.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# ok, not_ok: the TAP lines every shell test shares; a failure here shows the command's output.
. "$(dirname "$0")/common/tap.sh"
fail() {
	not_ok "$1" "$tmp/out"
}
# expect RC PATTERN DESCRIPTION -- COMMAND...: COMMAND exits RC and prints a line matching PATTERN.
expect() {
	want=$1 pattern=$2 what=$3
	shift 4
	"$@" >"$tmp/out" 2>&1
	rc=$?
	if [ "$rc" -eq "$want" ] && grep -Eq -- "$pattern" "$tmp/out"; then
		ok "$what"
	else
		fail "$what (exit $rc, wanted $want and /$pattern/)"
	fi
}

# ---- exports_check.sh ---------------------------------------------------------
# lib NAME MAP SYMBOL...: a shared library defining SYMBOL... (functions), linked with MAP.
lib() {
	name=$1 map=$2
	shift 2
	: >"$tmp/$name.c"
	for s in "$@"; do
		echo "int $s(void); int $s(void) { return 0; }" >>"$tmp/$name.c"
	done
	"$cc" -shared -fPIC -o "$tmp/$name.so" "$tmp/$name.c" -Wl,--version-script="$map"
}
if command -v "$cc" >/dev/null 2>&1 && command -v nm >/dev/null 2>&1; then
	cat >"$tmp/good.map" <<'EOF'
/* two nodes, as releases add them */
IOBUF_1.0 {
	global:
		iobuf_get;
		iobuf__cache_get_slow;
	local:
		*;
};
IOBUF_1.1 {
	global:
		iobuf_put;
} IOBUF_1.0;
EOF
	sed 's/^\t\tiobuf__cache_get_slow;$//' "$tmp/good.map" >"$tmp/no-internal.map"
	sed 's/^\t\tiobuf_put;$/\t\tiobuf_put;\n\t\tiobuf_gone;/' "$tmp/good.map" >"$tmp/gone.map"
	sed 's/^\t\tiobuf_put;$/\t\tiobuf_p*;/' "$tmp/good.map" >"$tmp/wild.map"
	sed 's/IOBUF_1.0/IOBUF_0.9/g' "$tmp/good.map" >"$tmp/renamed.map"
	# A library that exports two symbols more than good.map names.
	sed 's/^\t\tiobuf_put;$/\t\tiobuf_put;\n\t\tiobuf__pool_take;\n\t\tiobuf_extra;/' "$tmp/good.map" >"$tmp/leak.map"
	if lib good "$tmp/good.map" iobuf_get iobuf_put iobuf__cache_get_slow &&
		lib leak "$tmp/leak.map" iobuf_get iobuf_put iobuf__cache_get_slow iobuf__pool_take iobuf_extra; then
		expect 0 '^exports: 3 symbols' "exports_check passes when the map names every symbol" -- \
			sh "$exports" "$tmp/good.so" "$tmp/good.map"
		expect 1 'internal symbols exported without being named in .*: iobuf__pool_take' \
			"exports_check fails on an iobuf__ symbol the map does not name" -- \
			sh "$exports" "$tmp/leak.so" "$tmp/good.map"
		expect 1 'not listed in .*: iobuf_extra' "exports_check fails on a public symbol the map does not list" -- \
			sh "$exports" "$tmp/leak.so" "$tmp/good.map"
		expect 1 'internal symbols exported without being named in .*: iobuf__cache_get_slow' \
			"exports_check fails when the map leaves out an internal symbol the library exports" -- \
			sh "$exports" "$tmp/good.so" "$tmp/no-internal.map"
		expect 1 'listed in .* but not exported .*: iobuf_gone' \
			"exports_check fails on a listed symbol the library does not export" -- \
			sh "$exports" "$tmp/good.so" "$tmp/gone.map"
		expect 1 'wildcard "iobuf_p\*"' "exports_check fails on a wildcard in a global: list" -- \
			sh "$exports" "$tmp/good.so" "$tmp/wild.map"
		expect 1 'version is not the node that lists them: .*iobuf_get\(IOBUF_1.0, listed in IOBUF_0.9\)' \
			"exports_check fails when a symbol's version is not its node's" -- \
			sh "$exports" "$tmp/good.so" "$tmp/renamed.map"
	else
		fail "build the test libraries with $cc -shared"
	fi
else
	ok "exports_check # SKIP no C compiler ($cc) or nm"
fi

# ---- run-all.sh's steps --------------------------------------------------------
# in_run_all CODE: CODE run with run-all.sh's functions defined, $out at $tmp/ci.
in_run_all() {
	IOBUF_RUN_ALL_LIB=1 IOBUF_CI_DIR=$tmp/ci bash -c ". \"\$0\"; $1" "$runall"
}
mkdir -p "$tmp/empty/tests/unit" "$tmp/nobench" "$tmp/ci"
echo 'all:' >"$tmp/nobench/Makefile"
if command -v valgrind >/dev/null 2>&1; then
	expect 1 'no test binary' "the valgrind step fails on a build with no test binary" -- \
		in_run_all "valgrind_check '$tmp/empty'"
else
	expect 1 'valgrind not installed' "the valgrind step fails without valgrind" -- \
		in_run_all "valgrind_check '$tmp/empty'"
fi
expect 1 'no .*/Makefile: nothing to run' "the bench smoke step fails without a Makefile" -- \
	in_run_all "bench_smoke '$tmp/empty'"
expect 1 'no bench-quick target' "the bench smoke step fails without a bench-quick target" -- \
	in_run_all "bench_smoke '$tmp/nobench'"
expect 1 'no abi-check target' "the ABI step fails without an abi-check target" -- \
	in_run_all "abi_check '$tmp/nobench'"
expect 0 '^==== 2\. second: skipped: needs step 1 which failed$' \
	"a step whose prerequisite failed is skipped and says so" -- \
	in_run_all 'step 1 first false; step 2 second --needs 1 true; echo "counted: $passed passed, $failed failed"'
expect 0 '^counted: 0 passed, 2 failed$' "a skipped step counts as failed" -- \
	in_run_all 'step 1 first false; step 2 second --needs 1 true; echo "counted: $passed passed, $failed failed"'
expect 0 '^counted: 2 passed, 0 failed$' "a step whose prerequisite passed runs" -- \
	in_run_all 'step 1 first true; step 2 second --needs 1 true; echo "counted: $passed passed, $failed failed"'
expect 0 'skipped: needs step 3 which did not run' "a step whose prerequisite never ran is skipped" -- \
	in_run_all 'step 4 fourth --needs 3 true'

echo "1..$n"
