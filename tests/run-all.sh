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
# 6. from the distcheck tarball: ./configure && make && make install into
#    a staging root; a program using a set, compiled through pkg-config as C
#    and as C++, linked to the installed libiobuf.so, run; man pages there.
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

# The user's path, from the release tarball that distcheck made:
# ./configure && make && make install (into a staging root), then a program
# that uses a set (get, write, put, stats) compiled through pkg-config as C
# and as C++, linked to the installed libiobuf.so, run.
install_check() {
	local dest=$out/dest prefix=/usr/local tarball srcd
	tarball=$(ls -t "$out"/gcc/iobuf-*.tar.gz 2>/dev/null | head -1)
	if [ -z "$tarball" ]; then
		make -C "$out/gcc" dist >"$out/gcc/dist.out" 2>&1 || { tail -20 "$out/gcc/dist.out"; return 1; }
		tarball=$(ls -t "$out"/gcc/iobuf-*.tar.gz | head -1)
	fi
	echo "from $(basename "$tarball"): ./configure && make && make install DESTDIR=$dest"
	rm -rf "$dest" "$out/tarball" && mkdir -p "$out/tarball" && tar -xzf "$tarball" -C "$out/tarball" || return 1
	srcd=$(ls -d "$out"/tarball/iobuf-*/ | head -1)
	(cd "$srcd" && ./configure >configure.out 2>&1) || { tail -30 "$srcd/configure.out"; return 1; }
	make -C "$srcd" -j"$jobs" >"$srcd/make.out" 2>&1 || { tail -40 "$srcd/make.out"; return 1; }
	make -C "$srcd" install DESTDIR="$dest" >"$srcd/install.out" 2>&1 || { tail -20 "$srcd/install.out"; return 1; }
	export PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$dest$prefix/lib/pkgconfig
	local flags
	flags=$(pkg-config --cflags --libs iobuf) || return 1
	echo "pkg-config --cflags --libs iobuf: $flags"
	cat >"$out/user.c" <<'PROG'
#include <iobuf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
	struct iobuf_arena a;
	struct iobuf_set_stats st;
	iobuf_handle_t h;
	int err = 0, rc = iobuf_arena_init(&a, 4096, 0, 0);
	if (rc < 0) { fprintf(stderr, "arena: %s\n", strerror(-rc)); return 1; }
	memset(a.base, 1, a.size);
	printf("installed iobuf %s (0x%x): arena of %zu bytes\n", IOBUF_VERSION_STRING, iobuf_version(), a.size);
	if (iobuf_arena_fini(&a) != 0 || iobuf_version() != IOBUF_VERSION_NUMBER) return 1;

	struct iobuf_set *set = iobuf_set_create(NULL, &err);
	if (!set) { fprintf(stderr, "set: %s\n", strerror(-err)); return 1; }
	rc = iobuf_get(set, 1000, &h);
	if (rc < 0) { fprintf(stderr, "get: %s\n", strerror(-rc)); return 1; }
	char *p = (char *)iobuf_buf(set, h);
	int n = snprintf(p, iobuf_handle_capacity(h), "a %zu-byte %s buffer", iobuf_handle_capacity(h),
			 iobuf_tier_name(iobuf_handle_tag(h)));
	printf("wrote \"%.*s\"\n", n, p);
	if (iobuf_put(set, h) != 0 || iobuf_put(set, h) != -EALREADY) { fprintf(stderr, "put\n"); return 1; }
	if (iobuf_set_stats(set, &st) != 0) return 1;
	unsigned in_use = 0;
	for (int t = 0; t < IOBUF_TIER_COUNT; t++) in_use += st.tier[t].in_use;
	printf("stats: SMALL gets %llu, puts %llu, double puts refused %llu; in_use %u\n",
	       (unsigned long long)st.tier[IOBUF_TIER_SMALL].gets, (unsigned long long)st.tier[IOBUF_TIER_SMALL].puts,
	       (unsigned long long)st.tier[IOBUF_TIER_SMALL].refused_already, in_use);
	iobuf_set_destroy(set);
	return in_use == 0 && st.tier[IOBUF_TIER_SMALL].gets == 1 ? 0 : 1;
}
PROG
	cp "$out/user.c" "$out/user.cc"
	gcc -std=c11 -Wall -Wextra -Werror -pedantic "$out/user.c" -o "$out/user_c" $flags || return 1
	g++ -std=c++11 -Wall -Wextra -Werror "$out/user.cc" -o "$out/user_cxx" $flags || return 1
	clang -std=c11 -Wall -Wextra -Werror "$out/user.c" -o "$out/user_clang" $flags || return 1
	LD_LIBRARY_PATH=$dest$prefix/lib "$out/user_c" && LD_LIBRARY_PATH=$dest$prefix/lib "$out/user_cxx" &&
		LD_LIBRARY_PATH=$dest$prefix/lib "$out/user_clang" || return 1
	# The man pages are installed.
	local pages
	pages=$(ls "$dest$prefix"/share/man/man3/iobuf_*.3 2>/dev/null | wc -l)
	[ -f "$dest$prefix/share/man/man7/iobuf.7" ] && [ "$pages" -gt 0 ] || { echo "man pages not installed"; return 1; }
	echo "man pages installed: iobuf(7) and $pages in section 3"
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
	step "tarball: configure, make, install; pkg-config C and C++ user program" install_check
	step "bench smoke (make bench-quick)" bench_smoke
fi

echo
[ ${#failed_steps[@]} -eq 0 ] || printf 'failed step: %s\n' "${failed_steps[@]}"
echo "steps: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
