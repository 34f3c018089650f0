#!/bin/sh
# SPDX-License-Identifier: MIT
#
# man_examples.sh - the EXAMPLE programs of the man pages compile and run.  TAP.
#
# A page whose EXAMPLE section holds a program (an .EX/.EE block with a
# main()) is built by make as tests/man/PAGE, from the C that
#
#   man_examples.sh --extract man/PAGE.3 >tests/man/PAGE.c
#
# prints (see MAN_EXAMPLES in Makefile.am): so it compiles with the
# library's warnings, -Werror and sanitizers.  Without arguments, this
# runs each of them: it must exit 0.
set -u

# extract PAGE: the .EX/.EE blocks of its EXAMPLE section, roff escapes undone.
extract() {
	awk '
	/^\.SH/ { insec = ($0 ~ /^\.SH[ \t]+"?EXAMPLES?"?[ \t]*$/); next }
	insec && /^\.EX/ { on = 1; next }
	insec && /^\.EE/ { on = 0; next }
	insec && on { print }' "$1" | sed -e 's/\\-/-/g' -e 's/\\(aq/'"'"'/g' -e 's/\\&//g' -e 's/\\e/\\/g'
}

if [ "${1:-}" = --extract ]; then
	[ -f "${2:-}" ] || { echo "usage: $0 --extract PAGE" >&2; exit 2; }
	# Another escape would reach the compiler as roff: refuse it.
	if extract "$2" | sed 's/\\\\//g' | grep -n '\\[^\\nt0-9"'"'"'abfrv]' >&2; then
		echo "$2: a roff escape other than \\-, \\e, \\(aq or \\& in its EXAMPLE" >&2
		exit 1
	fi
	echo "/* Extracted from the EXAMPLE of $(basename "$2") by tests/man_examples.sh: edit the page, not this file. */"
	extract "$2"
	exit 0
fi

top=${top_srcdir:-${srcdir:-.}}
builddir=${top_builddir:-.}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/iobuf-manex.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

n=0
failures=0
for page in "$top"/man/*.3; do
	extract "$page" | grep -Eq '(^|[^A-Za-z0-9_])main[ \t]*\(' || continue
	base=$(basename "$page" .3)
	n=$((n + 1))
	prog=$builddir/tests/man/$base
	if [ ! -x "$prog" ]; then
		failures=$((failures + 1))
		echo "not ok $n - the EXAMPLE of man/$base.3 is not built: add tests/man/$base to MAN_EXAMPLES in Makefile.am"
	else
		rc=0
		"$prog" >"$tmp/out" 2>&1 || rc=$?
		if [ "$rc" -eq 0 ]; then
			echo "ok $n - the EXAMPLE of man/$base.3 compiles and runs: $(head -1 "$tmp/out")"
		else
			failures=$((failures + 1))
			echo "not ok $n - the EXAMPLE of man/$base.3 exits $rc"
			sed 's/^/# /' "$tmp/out"
		fi
	fi
done
if [ "$n" -eq 0 ]; then
	echo "1..0 # SKIP no page has an EXAMPLE program"
	exit 0
fi
echo "1..$n"
exit 0
