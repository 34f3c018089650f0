#!/bin/sh
# SPDX-License-Identifier: MIT
#
# readme_example.sh - the C example of README.md is examples/hello_set.c,
# which the build compiles, and it runs.  TAP.
set -u

top=${top_srcdir:-${srcdir:-.}}
builddir=${top_builddir:-.}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/iobuf-readme.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

echo "1..2"
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
