#!/bin/sh
# SPDX-License-Identifier: MIT
#
# reserve_demo.sh - examples/reserve_demo: writers on both cores reserve,
# write (whole, in chunks), abort and stall in one stream; the consumer
# checks the order, every committed byte and every failed record, then
# finalizes and drains; every buffer back.  TAP output.
set -u

builddir=${top_builddir:-.}
srcdir=${srcdir:-.}
demo=$builddir/examples/reserve_demo

if [ ! -x "$demo" ]; then
	echo "1..0 # SKIP $demo not built"
	exit 0
fi
# shellcheck source=tests/common/tap.sh
. "$srcdir/tests/common/tap.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/iobuf-reserve.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

echo "1..3"
for w in 1 4; do
	if "$demo" --writers "$w" --records 3000 >"$tmp/out.$w" 2>&1 && grep -q "every byte checked, every buffer back" "$tmp/out.$w"; then
		ok "$w writers: $(sed -n 's/^reserve_demo: [0-9]* writers, //p' "$tmp/out.$w")"
	else
		not_ok "$w writers: the demo failed" "$tmp/out.$w"
	fi
done
if "$demo" --writers 0 >"$tmp/bad" 2>&1; then
	not_ok "--writers 0 accepted" "$tmp/bad"
else
	ok "--writers 0 refused"
fi
