#!/bin/sh
# SPDX-License-Identifier: MIT
# Bootstrap the build system from a git checkout.
#
#   ./autogen.sh                  run autoreconf
#   ./autogen.sh --install-deps   first install the Debian build dependencies (as root, apt-get)
#   ./autogen.sh --print-deps     print the apt-get line and exit
set -eu

# The library needs ck; the tests cmocka, clang, valgrind, socat (the echo test) and groff
# (the man-page lint); liburcu the reserve layer.
DEPS="build-essential autoconf automake libtool pkg-config libck-dev liburcu-dev libcmocka-dev clang libclang-rt-dev valgrind socat groff-base"

case "${1:-}" in
--print-deps)
	echo "apt-get install -y $DEPS"
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
	$SUDO apt-get update
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y $DEPS
	;;
"") ;;
*)
	echo "usage: $0 [--install-deps | --print-deps]" >&2
	exit 2
	;;
esac

cd "$(dirname "$0")"
mkdir -p m4 build-aux
# automake's TAP driver is not copied by --add-missing; take it from automake itself.
cp -f "$(automake --print-libdir)/tap-driver.sh" build-aux/tap-driver.sh
autoreconf --force --install --warnings=all
echo "Now run: ./configure && make"
