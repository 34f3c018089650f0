#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The whole test matrix, as CI runs it.  From the source tree:
#
#   tests/run-all.sh            everything below
#   tests/run-all.sh quick      only the gcc build's make check
#
# 1. gcc, -Werror: build, make check
# 2. clang, -Werror, ASan+UBSan: make check
# 3. clang, ThreadSanitizer: make check (the concurrent tests are in it)
# 4. valgrind memcheck over the unit tests (gcc build)
# 5. make distcheck
# 6. make install into a staging root; a program compiled through
#    pkg-config as C and as C++, linked to the installed libiobuf.so, run.
# 7. the benchmark smoke run, when bench/ is configured
#
# It ends with one line "N passed, N failed" counting the steps.
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
out=${IOBUF_CI_DIR:-$src/_ci}
jobs=${JOBS:-2}
mode=${1:-all}
passed=0
failed=0
failed_steps=()

step() {
	local name=$1
	shift
	echo
	echo "==== $name"
	local t0=$SECONDS
	if "$@"; then
		passed=$((passed + 1))
		echo "==== $name: ok ($((SECONDS - t0)) s)"
	else
		failed=$((failed + 1))
		failed_steps+=("$name")
		echo "==== $name: FAILED ($((SECONDS - t0)) s)"
	fi
}

configure_in() {
	local dir=$1
	shift
	rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" && "$src/configure" --enable-werror "$@" >configure.out 2>&1 || {
		tail -30 configure.out
		return 1
	}
}

check_in() {
	local dir=$1
	make -C "$dir" -j"$jobs" >"$dir/make.out" 2>&1 || { tail -40 "$dir/make.out"; return 1; }
	make -C "$dir" -j"$jobs" check >"$dir/check.out" 2>&1
	local rc=$?
	grep -E '^# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):' "$dir/check.out"
	if [ $rc -ne 0 ]; then
		grep -E '^(FAIL|ERROR)' "$dir/check.out" | head -20
		for log in $(grep -lE '^(not ok|ERROR|FAIL)' $(find "$dir/tests" -name '*.log') 2>/dev/null); do
			echo "---- $log"
			tail -40 "$log"
		done
	fi
	return $rc
}

gcc_check() { configure_in "$out/gcc" CC=gcc CXX=g++ && check_in "$out/gcc"; }
asan_check() { configure_in "$out/asan" CC=clang CXX=clang++ --enable-sanitizers && check_in "$out/asan"; }
tsan_check() { configure_in "$out/tsan" CC=clang CXX=clang++ --enable-tsan && check_in "$out/tsan"; }

valgrind_check() {
	local dir=$out/gcc rc=0
	command -v valgrind >/dev/null || { echo "valgrind not installed"; return 1; }
	for t in "$dir"/tests/unit/test_*; do
		[ -x "$t" ] || continue
		case $t in *.o | *.log | *.trs) continue ;; esac
		if ! IOBUF_UNDER_VALGRIND=1 CMOCKA_MESSAGE_OUTPUT=TAP valgrind -q --error-exitcode=99 --leak-check=full \
			--errors-for-leak-kinds=definite "$t" >"$t.vg.out" 2>&1; then
			echo "valgrind: $(basename "$t") failed"
			tail -30 "$t.vg.out"
			rc=1
		else
			echo "valgrind: $(basename "$t") clean"
		fi
	done
	return $rc
}

distcheck() {
	make -C "$out/gcc" -j"$jobs" distcheck >"$out/gcc/distcheck.out" 2>&1 || {
		tail -40 "$out/gcc/distcheck.out"
		return 1
	}
	grep -E 'archives ready|\.tar\.gz' "$out/gcc/distcheck.out" | head -3
}

install_check() {
	local dest=$out/dest prefix=/usr/local
	rm -rf "$dest"
	make -C "$out/gcc" install DESTDIR="$dest" >"$out/gcc/install.out" 2>&1 || { tail -20 "$out/gcc/install.out"; return 1; }
	export PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$dest$prefix/lib/pkgconfig
	local flags
	flags=$(pkg-config --cflags --libs iobuf) || return 1
	echo "pkg-config --cflags --libs iobuf: $flags"
	cat >"$out/user.c" <<'PROG'
#include <iobuf.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
	struct iobuf_arena a;
	int rc = iobuf_arena_init(&a, 4096, 0, 0);
	if (rc < 0) { fprintf(stderr, "%s\n", strerror(-rc)); return 1; }
	memset(a.base, 1, a.size);
	printf("installed iobuf %s (0x%x): arena of %zu bytes\n", IOBUF_VERSION_STRING, iobuf_version(), a.size);
	return iobuf_arena_fini(&a) == 0 && iobuf_version() == IOBUF_VERSION_NUMBER ? 0 : 1;
}
PROG
	cp "$out/user.c" "$out/user.cc"
	gcc -std=c11 -Wall -Wextra -Werror -pedantic "$out/user.c" -o "$out/user_c" $flags || return 1
	g++ -std=c++11 -Wall -Wextra -Werror "$out/user.cc" -o "$out/user_cxx" $flags || return 1
	clang -std=c11 -Wall -Wextra -Werror "$out/user.c" -o "$out/user_clang" $flags || return 1
	LD_LIBRARY_PATH=$dest$prefix/lib "$out/user_c" && LD_LIBRARY_PATH=$dest$prefix/lib "$out/user_cxx" &&
		LD_LIBRARY_PATH=$dest$prefix/lib "$out/user_clang" || return 1
	# Only the public API is exported.
	local leaked
	leaked=$(nm -D --defined-only "$dest$prefix/lib/libiobuf.so" | awk '$2 ~ /[TDB]/ {print $3}' | grep -v '^iobuf_' | grep -v '^IOBUF_' || true)
	[ -z "$leaked" ] || { echo "exported non-API symbols: $leaked"; return 1; }
	echo "exported symbols: $(nm -D --defined-only "$dest$prefix/lib/libiobuf.so" | grep -c ' T iobuf_') functions, all iobuf_*"
}

bench_smoke() {
	if grep -q '^bench-quick:' "$out/gcc/Makefile"; then
		make -C "$out/gcc" bench-quick 2>&1 | tail -60
		return "${PIPESTATUS[0]}"
	fi
	echo "no bench-quick target"
}

[ -x "$src/configure" ] || (cd "$src" && ./autogen.sh) || exit 1

step "gcc -Werror: make check" gcc_check
if [ "$mode" != quick ]; then
	step "clang -Werror ASan+UBSan: make check" asan_check
	step "clang ThreadSanitizer: make check" tsan_check
	step "valgrind memcheck: unit tests" valgrind_check
	step "make distcheck" distcheck
	step "install, pkg-config, C and C++ user program" install_check
	step "bench smoke (make bench-quick)" bench_smoke
fi

echo
[ ${#failed_steps[@]} -eq 0 ] || printf 'failed step: %s\n' "${failed_steps[@]}"
echo "steps: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
