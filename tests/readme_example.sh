#!/bin/sh
# SPDX-License-Identifier: MIT
#
# readme_example.sh - the C example of README.md is examples/hello_set.c,
# which the build compiles, and it runs; the README's table of headers names
# every header that make install installs, each once.  TAP.
set -u

top=${top_srcdir:-${srcdir:-.}}
builddir=${top_builddir:-.}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/iobuf-readme.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

echo "1..3"
# The first ```c block of the README; the file less its SPDX line.
awk '/^```c[ \t]*$/ && !done { on = 1; next } on && /^```/ { on = 0; done = 1; next } on' "$top/README.md" >"$tmp/readme.c"
grep -v '^/\* SPDX-License-Identifier' "$top/examples/hello_set.c" >"$tmp/file.c"
if [ -s "$tmp/readme.c" ] && diff -u "$tmp/file.c" "$tmp/readme.c" >"$tmp/diff"; then
	echo "ok 1 - the README's example is examples/hello_set.c ($(wc -l <"$tmp/readme.c" | tr -d ' ') lines)"
else
	echo "not ok 1 - the README's first \`\`\`c block differs from examples/hello_set.c: make them one again"
	sed 's/^/# /' "$tmp/diff"
fi
if "$builddir/examples/hello_set" >"$tmp/out" 2>&1 && grep -q 'hello from a MEDIUM buffer' "$tmp/out" &&
	grep -q 'put again: buffer already put (double put)' "$tmp/out"; then
	echo "ok 2 - examples/hello_set runs: get, write, put, double put refused, stats"
else
	echo "not ok 2 - examples/hello_set failed"
	sed 's/^/# /' "$tmp/out"
fi

# The installed headers: the *_HEADERS of Makefile.am (continuation lines joined),
# include/ taken off.  The README's: the first cell of each row of its header table.
awk '/^(nodist_)?[a-z]*include_HEADERS[ \t]*\+?=/ { on = 1 } on { line = $0; cont = sub(/\\$/, "", line); print line; if (!cont) on = 0 }' \
	"$top/Makefile.am" | sed 's/^[a-z_]*include_HEADERS[ \t]*+*=//' | tr ' \t' '\n\n' | grep . | sed 's|^include/||' |
	sort >"$tmp/installed"
awk '/^\| header \| / { on = 1; next } on && !/^\|/ { exit } on && !/^\| ---/ { print }' "$top/README.md" |
	sed -n 's/^| `\([^`]*\)` |.*/\1/p' | sort >"$tmp/table"
problems=
[ -s "$tmp/installed" ] || problems="$problems; no *_HEADERS in Makefile.am"
twice=$(uniq -d "$tmp/table" | tr '\n' ' ')
[ -z "$twice" ] || problems="$problems; listed more than once: $twice"
absent=$(sort -u "$tmp/table" | comm -13 - "$tmp/installed" | tr '\n' ' ')
[ -z "$absent" ] || problems="$problems; installed but not in the table: $absent"
extra=$(sort -u "$tmp/table" | comm -23 - "$tmp/installed" | tr '\n' ' ')
[ -z "$extra" ] || problems="$problems; in the table but not installed: $extra"
for h in "$top"/include/iobuf/*.h "$top"/include/iobuf/*.h.in; do
	[ -f "$h" ] || continue
	h=iobuf/$(basename "$h" .in)
	grep -qx "$h" "$tmp/installed" || problems="$problems; include/$h is not installed by Makefile.am"
done
if [ -z "$problems" ]; then
	echo "ok 3 - the README's header table names each of the $(wc -l <"$tmp/installed" | tr -d ' ') installed headers once"
else
	echo "not ok 3 - the README's header table and the installed headers differ:${problems#;}"
fi
