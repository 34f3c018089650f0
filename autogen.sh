#!/bin/sh
# SPDX-License-Identifier: MIT
# Bootstrap the build system from a git checkout.
#
#   ./autogen.sh                  run autoreconf
#   ./autogen.sh --install-deps   first install the Debian packages that the build and
#                                 tests/run-all.sh need (as root, apt-get), then autoreconf
#   ./autogen.sh --print-deps     print the apt-get line and exit
#   ./autogen.sh --list-deps      print the packages, one a line, and exit (.ci/run installs these)
set -eu

# The one list of Debian packages, for ./autogen.sh --install-deps and .ci/run alike:
# everything the build, make check and every step of tests/run-all.sh use.
#   build:       compilers, autotools, pkg-config; Concurrency Kit (the atomics), liburcu
#                (the reserve layer's wfcqueue delivery, the urcu benchmark peer), liburing (io_uring, optional)
#   tests:       cmocka; clang with its sanitizer runtimes (libclang-rt-dev is only a
#                "recommends" of clang); valgrind; socat (the echo test); groff (the man-page
#                lint); man-db (the whatis index that man -k reads); git (run-all.sh copies
#                the tracked files of a tree configured in place); abigail-tools (ABI checks)
#   benchmarks:  the peers of make bench and its plots
DEPS="build-essential autoconf automake libtool pkg-config git
libck-dev liburcu-dev liburing-dev
libcmocka-dev clang libclang-rt-dev valgrind socat groff-base man-db abigail-tools
libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev libdpdk-dev gnuplot-nox"
DEPS=$(echo $DEPS)

case "${1:-}" in
--print-deps)
	echo "apt-get install -y --no-install-recommends $DEPS"
	exit 0
	;;
--list-deps)
	for p in $DEPS; do echo "$p"; done
	exit 0
	;;
--install-deps)
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			SUDO=sudo
		else
			echo "autogen.sh: --install-deps needs root; run as root: apt-get install -y $DEPS" >&2
			exit 1
		fi
	else
		SUDO=
	fi
	# No standard input (CI): apt-get must not ask.
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $DEPS </dev/null
	;;
"") ;;
*)
	echo "usage: $0 [--install-deps | --print-deps | --list-deps]" >&2
	exit 2
	;;
esac

cd "$(dirname "$0")"
mkdir -p m4 build-aux
# automake's TAP driver is not copied by --add-missing; take it from automake itself.
cp -f "$(automake --print-libdir)/tap-driver.sh" build-aux/tap-driver.sh
autoreconf --force --install --warnings=all
echo "Now run: ./configure && make"
