#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The whole test matrix, as CI runs it.  From the source tree:
#
#   tests/run-all.sh            everything below
#   tests/run-all.sh quick      only step 1, the gcc build's make check
#
# 1. gcc, -Werror: build, make check
# 2. clang, -Werror, ASan+UBSan: make check
# 3. clang, ThreadSanitizer: make check (the concurrent tests are in it)
# 4. make -j8 check again in the gcc build: oversubscribed, so that a test
#    that assumes timing fails here                             (needs 1)
# 5. valgrind memcheck over the unit tests of the gcc build       (needs 1)
# 6. make distcheck                                               (needs 1)
# 7. from the distcheck tarball: ./configure && make && make install into
#    a staging root; a program using a set, compiled through pkg-config as
#    C and as C++ and linked statically, run; pkg-config --cflags with only
#    iobuf.pc in reach; the exported symbols against src/libiobuf.map
#    (tests/exports_check.sh); man pages there, and man -k finding them  (needs 6)
# 8. the benchmark smoke run (make bench-quick)                   (needs 1)
# 9. the ABI against the previous release (make abi-check,
#    tests/abi_check.sh)                                          (needs 1)
#
# The builds are out of tree, in $IOBUF_CI_DIR (default _ci/).  A source
# tree that is configured in place (./configure && make, as the README's
# quick start does) cannot host them, so then they are made from a copy of
# its tracked and untracked-but-not-ignored files, in _ci/src.
#
# A step that finds nothing to check fails; a step whose prerequisite
# failed is not run and counts as failed.  It ends with one line
# "steps: N passed, N failed".
#
# Sourced with IOBUF_RUN_ALL_LIB=1 it only defines its functions (for
# tests/run_all_check.sh).
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
out=${IOBUF_CI_DIR:-$src/_ci}
jobs=${JOBS:-2}
passed=0
failed=0
failed_steps=()
declare -A step_status

# step ID NAME [--needs ID]... FUNCTION [ARG...]
step() {
	local id=$1 name=$2 need
	local -a needs=()
	shift 2
	while [ "${1:-}" = --needs ]; do
		needs+=("$2")
		shift 2
	done
	echo
	echo "==== $id. $name"
	for need in "${needs[@]}"; do
		if [ "${step_status[$need]:-}" != ok ]; then
			failed=$((failed + 1))
			failed_steps+=("$id. $name (skipped)")
			step_status[$id]=skipped
			if [ -n "${step_status[$need]:-}" ]; then
				echo "==== $id. $name: skipped: needs step $need which failed"
			else
				echo "==== $id. $name: skipped: needs step $need which did not run"
			fi
			return 0
		fi
	done
	local t0=$SECONDS
	if "$@"; then
		passed=$((passed + 1))
		step_status[$id]=ok
		echo "==== $id. $name: ok ($((SECONDS - t0)) s)"
	else
		failed=$((failed + 1))
		failed_steps+=("$id. $name")
		step_status[$id]=failed
		echo "==== $id. $name: FAILED ($((SECONDS - t0)) s)"
	fi
}

# A source tree configured in place: copy what git would commit (tracked files and
# untracked ones that are not ignored, as they are in the work tree) to $out/src.
snapshot() {
	local from=$1 to=$2 f
	command -v git >/dev/null && git -C "$from" rev-parse --is-inside-work-tree >/dev/null 2>&1 || {
		echo "$from is configured in place and is not a git work tree: run 'make distclean' there first"
		return 1
	}
	rm -rf "$to" && mkdir -p "$to" || return 1
	git -C "$from" ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do
		[ -e "$from/$f" ] || [ -L "$from/$f" ] || continue # deleted in the work tree
		printf '%s\0' "$f"
	done | (cd "$from" && tar --null -T - -cf -) | tar -xf - -C "$to" || return 1
	echo "$from is configured in place: the builds use a copy of its $(find "$to" -type f | wc -l) files in $to"
}

configure_in() {
	local dir=$1
	shift
	rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" && "$src/configure" --enable-werror "$@" >configure.out 2>&1 || {
		tail -30 "$dir/configure.out"
		return 1
	}
}

# check_report DIR RC OUT: the summary lines of OUT; the failing tests' logs when RC != 0.
check_report() {
	local dir=$1 rc=$2 report=$3 log
	grep -E '^# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):' "$report"
	if [ "$rc" -ne 0 ]; then
		grep -E '^(FAIL|ERROR)' "$report" | head -20
		for log in $(grep -lE '^(not ok|ERROR|FAIL)' $(find "$dir/tests" -name '*.log') 2>/dev/null); do
			echo "---- $log"
			tail -40 "$log"
		done
	fi
	# A make check that ran no test passes too: not here.
	grep -Eq '^# TOTAL: [1-9]' "$report" || { echo "make check ran no test"; return 1; }
	return "$rc"
}

check_in() {
	local dir=$1
	make -C "$dir" -j"$jobs" >"$dir/make.out" 2>&1 || { tail -40 "$dir/make.out"; return 1; }
	make -C "$dir" -j"$jobs" check >"$dir/check.out" 2>&1
	check_report "$dir" $? "$dir/check.out"
}

gcc_check() { configure_in "$out/gcc" CC=gcc CXX=g++ && check_in "$out/gcc"; }
asan_check() { configure_in "$out/asan" CC=clang CXX=clang++ --enable-sanitizers && check_in "$out/asan"; }
tsan_check() { configure_in "$out/tsan" CC=clang CXX=clang++ --enable-tsan && check_in "$out/tsan"; }

# Every test again, eight at a time on however few cores: no test may assume timing.
oversubscribed_check() {
	local dir=$out/gcc
	make -C "$dir" -j8 check >"$dir/check-j8.out" 2>&1
	check_report "$dir" $? "$dir/check-j8.out"
}

valgrind_check() {
	local dir=${1:-$out/gcc} rc=0 t n=0
	command -v valgrind >/dev/null || { echo "valgrind not installed"; return 1; }
	for t in "$dir"/tests/unit/test_*; do
		[ -x "$t" ] && [ -f "$t" ] || continue
		case $t in *.o | *.log | *.trs | *.out) continue ;; esac
		n=$((n + 1))
		if ! IOBUF_UNDER_VALGRIND=1 CMOCKA_MESSAGE_OUTPUT=TAP valgrind -q --error-exitcode=99 --leak-check=full \
			--errors-for-leak-kinds=definite "$t" >"$t.vg.out" 2>&1; then
			echo "valgrind: $(basename "$t") failed"
			tail -30 "$t.vg.out"
			rc=1
		else
			echo "valgrind: $(basename "$t") clean"
		fi
	done
	[ "$n" -gt 0 ] || { echo "valgrind: no test binary in $dir/tests/unit: nothing was checked"; return 1; }
	echo "valgrind: $n test binaries"
	return $rc
}

distcheck() {
	make -C "$out/gcc" -j"$jobs" distcheck >"$out/gcc/distcheck.out" 2>&1 || {
		tail -40 "$out/gcc/distcheck.out"
		return 1
	}
	grep -m3 -E 'archives ready|\.tar\.gz' "$out/gcc/distcheck.out"
	return 0
}

# The user's path, from the release tarball that distcheck made:
# ./configure && make && make install (into a staging root), then a program
# that uses a set (get, write, put, stats) compiled through pkg-config as C
# and as C++, linked to the installed libiobuf.so, run.
install_check() {
	local dest=$out/dest prefix=/usr/local tarball srcd
	tarball=$(ls -t "$out"/gcc/iobuf-*.tar.gz 2>/dev/null | head -1)
	[ -n "$tarball" ] || { echo "no iobuf-*.tar.gz in $out/gcc: make distcheck made none"; return 1; }
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
	if (rc < 0) { fprintf(stderr, "arena: %s\n", iobuf_strerror(rc)); return 1; }
	memset(a.base, 1, a.size);
	printf("installed iobuf %s (0x%x): arena of %zu bytes\n", IOBUF_VERSION_STRING, iobuf_version(), a.size);
	if (iobuf_arena_fini(&a) != 0 || iobuf_version() != IOBUF_VERSION_NUMBER) return 1;

	struct iobuf_set *set = iobuf_set_create(NULL, &err);
	if (!set) { fprintf(stderr, "set: %s\n", iobuf_strerror(err)); return 1; }
	rc = iobuf_get(set, 1000, &h);
	if (rc < 0) { fprintf(stderr, "get: %s\n", iobuf_strerror(rc)); return 1; }
	char *p = (char *)iobuf_buf(set, h);
	int n = snprintf(p, iobuf_handle_capacity(h), "a %zu-byte %s buffer", iobuf_handle_capacity(h),
			 iobuf_tier_name(iobuf_handle_tag(h)));
	printf("wrote \"%.*s\"\n", n, p);
	if (iobuf_put(set, h) != 0 || iobuf_put(set, h) != -EALREADY) { fprintf(stderr, "put\n"); return 1; }
	printf("put again: %s\n", iobuf_strerror(-EALREADY));
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

	# The .pc file asks for nothing a user's build lacks: with only iobuf.pc in reach
	# (no ck.pc), --cflags works and adds no -D; a static link needs only Libs.private.
	local pcdir=$out/pc-only cflags static
	rm -rf "$pcdir" && mkdir -p "$pcdir" && cp "$dest$prefix/lib/pkgconfig/iobuf.pc" "$pcdir/" || return 1
	cflags=$(PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR=$pcdir pkg-config --cflags iobuf) || {
		echo "pkg-config --cflags iobuf fails with only iobuf.pc in PKG_CONFIG_LIBDIR"
		return 1
	}
	case " $cflags " in *" -D"*) echo "pkg-config --cflags iobuf adds a define: $cflags"; return 1 ;; esac
	echo "pkg-config --cflags iobuf, iobuf.pc alone: '$cflags'"
	static=$(PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR=$pcdir pkg-config --static --cflags --libs iobuf) || return 1
	gcc -std=c11 -static "$out/user.c" -o "$out/user_static" $static || { echo "static link with: $static"; return 1; }
	"$out/user_static" >/dev/null || return 1
	echo "static link with pkg-config --static: $static; it runs"

	# The man pages are installed, and man -k finds them by their NAME lines.
	local mandir=$dest$prefix/share/man pages db=$out/mandb
	pages=$(ls "$mandir"/man3/iobuf_*.3 2>/dev/null | wc -l)
	[ -f "$mandir/man7/iobuf.7" ] && [ "$pages" -gt 0 ] || { echo "man pages not installed"; return 1; }
	echo "man pages installed: iobuf(7) and $pages in section 3"
	command -v mandb >/dev/null && command -v apropos >/dev/null || { echo "man-db not installed (apt-get install man-db)"; return 1; }
	rm -rf "$db" && mkdir -p "$db/cache" || return 1
	printf 'MANDATORY_MANPATH %s\nMANDB_MAP %s %s\n' "$mandir" "$mandir" "$db/cache" >"$db/man_db.conf"
	mandb -C "$db/man_db.conf" -q "$mandir" >"$db/mandb.out" 2>&1 || { cat "$db/mandb.out"; return 1; }
	# Into a file: under pipefail, "echo | grep -q" fails when grep exits before echo has written all.
	man -C "$db/man_db.conf" -M "$mandir" -k iobuf >"$db/found" 2>&1
	grep -q '^iobuf_get (3) *- ' "$db/found" && grep -q '^iobuf (7) *- ' "$db/found" || {
		echo "man -k iobuf does not find iobuf_get(3) and iobuf(7):"
		head -10 "$db/found"
		return 1
	}
	local page name sec unfound=
	for page in "$mandir"/man3/*.3 "$mandir"/man7/*.7; do
		name=$(basename "$page")
		sec=${name##*.}
		name=${name%.*}
		grep -q "^$name ($sec) " "$db/found" || unfound="$unfound $name($sec)"
	done
	[ -z "$unfound" ] || { echo "man -k iobuf does not find:$unfound"; return 1; }
	echo "man -k iobuf finds all $((pages + 1)) pages: $(grep '^iobuf_get (3)' "$db/found")"

	# Exactly the symbols src/libiobuf.map names are exported.
	sh "$srcd/tests/exports_check.sh" "$dest$prefix/lib/libiobuf.so" "$srcd/src/libiobuf.map"
}

bench_smoke() {
	local dir=${1:-$out/gcc}
	[ -f "$dir/Makefile" ] || { echo "no $dir/Makefile: nothing to run"; return 1; }
	grep -q '^bench-quick:' "$dir/Makefile" || { echo "no bench-quick target in $dir/Makefile: nothing to run"; return 1; }
	make -C "$dir" bench-quick 2>&1 | tail -60
	return "${PIPESTATUS[0]}"
}

abi_check() {
	local dir=${1:-$out/gcc}
	[ -f "$dir/Makefile" ] && grep -q '^abi-check:' "$dir/Makefile" || { echo "no abi-check target in $dir/Makefile"; return 1; }
	make -C "$dir" abi-check >"$dir/abi-check.out" 2>&1
	local rc=$?
	grep -E '^(ok|not ok|# )' "$dir/abi-check.out" | head -40
	grep -q '^ok ' "$dir/abi-check.out" || { echo "make abi-check checked nothing"; return 1; }
	return $rc
}

main() {
	local mode=${1:-all}

	case $mode in
	all | quick) ;;
	*)
		echo "usage: $0 [quick]" >&2
		return 2
		;;
	esac
	if [ -f "$src/config.status" ]; then
		snapshot "$src" "$out/src" || return 1
		src=$out/src
	fi
	[ -x "$src/configure" ] || (cd "$src" && ./autogen.sh) || return 1

	step 1 "gcc -Werror: make check" gcc_check
	if [ "$mode" != quick ]; then
		step 2 "clang -Werror ASan+UBSan: make check" asan_check
		step 3 "clang ThreadSanitizer: make check" tsan_check
		step 4 "gcc: make -j8 check, oversubscribed" --needs 1 oversubscribed_check
		step 5 "valgrind memcheck: unit tests" --needs 1 valgrind_check
		step 6 "make distcheck" --needs 1 distcheck
		step 7 "tarball: configure, make, install; pkg-config C, C++ and static; exports; man -k" --needs 6 install_check
		step 8 "bench smoke (make bench-quick)" --needs 1 bench_smoke
		step 9 "ABI against the previous release (make abi-check)" --needs 1 abi_check
	fi

	echo
	[ ${#failed_steps[@]} -eq 0 ] || printf 'failed step: %s\n' "${failed_steps[@]}"
	echo "steps: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

[ "${IOBUF_RUN_ALL_LIB:-}" = 1 ] || main "$@"
