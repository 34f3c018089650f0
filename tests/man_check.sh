#!/bin/sh
# SPDX-License-Identifier: MIT
#
# man_check.sh - the man pages and the headers say the same thing.  TAP.
#
# The public functions are read from include/iobuf/*.h: every declaration
# that starts with IOBUF_API, and every `static inline iobuf_*` function
# (names with a double underscore, iobuf__*, are internal).  Then:
#
#   - each public function has its page, man/FUNCTION.3;
#   - each page names (in NAME and SYNOPSIS) only functions that exist,
#     has the sections NAME, SYNOPSIS, DESCRIPTION, RETURN VALUE, ERRORS,
#     THREAD SAFETY, SEE ALSO, and refers in SEE ALSO only to iobuf pages
#     that exist;
#   - iobuf(7) lists every public function;
#   - every page is in dist_man_MANS of Makefile.am, so that it is installed;
#   - every page passes `groff -man -ww -z` without a warning (mandoc -T lint
#     when groff is absent; skipped when neither is installed).
#
# A new header's functions are covered as soon as the header exists.
set -u

srcdir=${srcdir:-.}
top=${top_srcdir:-$srcdir}
inc=$top/include
man=$top/man
tmp=$(mktemp -d "${TMPDIR:-/tmp}/iobuf-man.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

n=0
failures=0
ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}
not_ok() {
	n=$((n + 1))
	failures=$((failures + 1))
	echo "not ok $n - $1"
}
diag() { sed 's/^/# /'; }

if [ ! -d "$inc/iobuf" ] || [ ! -d "$man" ]; then
	echo "1..0 # SKIP no $inc/iobuf or $man (set top_srcdir)"
	exit 0
fi

# ---- the public functions: "name<TAB>header" per line ---------------------
# A declaration may span lines: collect from IOBUF_API / static inline to the
# first '(' and take the first lowercase iobuf_ identifier before a '('.
for h in "$inc"/iobuf/*.h "$inc"/iobuf.h; do
	[ -f "$h" ] || continue
	awk -v hdr="${h#"$top"/}" '
	/^[ \t]*(#|\/\/|\/?\*)/ && !collecting { next }
	{
		if (!collecting && ($0 ~ /^[ \t]*IOBUF_API[ \t]/ || $0 ~ /^[ \t]*static[ \t]+(inline|__inline__)[ \t]/)) {
			collecting = 1
			acc = ""
		}
		if (collecting) {
			acc = acc " " $0
			if (acc ~ /\(/) {
				collecting = 0
				if (match(acc, /iobuf_[a-z0-9_]+[ \t]*\(/)) {
					name = substr(acc, RSTART, RLENGTH)
					sub(/[ \t]*\($/, "", name)
					if (name !~ /^iobuf__/)
						print name "\t" hdr
				}
			}
		}
	}' "$h"
done | sort -u >"$tmp/funcs"
cut -f1 "$tmp/funcs" >"$tmp/names"

if [ ! -s "$tmp/names" ]; then
	not_ok "found public functions in $inc/iobuf/*.h"
	echo "1..$n"
	exit 1
fi
ok "$(wc -l <"$tmp/names" | tr -d ' ') public functions in $(ls "$inc"/iobuf/*.h | wc -l | tr -d ' ') headers"

# ---- every public function has its page ------------------------------------
while IFS="$(printf '\t')" read -r f hdr; do
	if [ -f "$man/$f.3" ]; then
		ok "$f has its page man/$f.3"
	else
		not_ok "$f (declared in $hdr) has no man page: write man/$f.3 (NAME, SYNOPSIS, DESCRIPTION, RETURN VALUE, ERRORS, THREAD SAFETY, SEE ALSO; see man/iobuf_get.3) and add it to dist_man_MANS in Makefile.am"
	fi
done <"$tmp/funcs"

# ---- every page names real functions and has every section ------------------
# section PAGE NAME: the text of a section, font escapes and quotes removed.
section() {
	awk -v want="$2" '
	/^\.SH/ { s = $0; sub(/^\.SH[ \t]+/, "", s); gsub(/"/, "", s); insec = (s == want); next }
	insec && !/^\.\\"/ { print }' "$1" | sed -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' -e 's/"//g' -e 's/\\-/-/g'
}

for page in "$man"/*.3; do
	[ -f "$page" ] || continue
	base=$(basename "$page" .3)
	problems=
	if grep -q '^\.so ' "$page"; then
		target=$(sed -n 's/^\.so[ \t]*//p' "$page" | head -1)
		[ -f "$man/$(basename "$target")" ] || problems="$problems; .so points to a missing page $target"
	else
		for s in NAME SYNOPSIS DESCRIPTION 'RETURN VALUE' ERRORS 'THREAD SAFETY' 'SEE ALSO'; do
			grep -Eq "^\.SH[ \t]+\"?$s\"?[ \t]*$" "$page" || problems="$problems; no section $s"
		done
		# NAME: "name1, name2 \- what it does"
		section "$page" NAME | sed -n 's/ - .*//p' | tr ',' '\n' | sed 's/[ \t]//g' | grep . >"$tmp/named"
		grep -qx "$base" "$tmp/named" || problems="$problems; NAME does not name $base"
		section "$page" SYNOPSIS | grep -oE '\biobuf_[a-z0-9_]+[ \t]*\(' | sed 's/[ \t]*($//' >>"$tmp/named"
		for f in $(sort -u "$tmp/named"); do
			grep -qx "$f" "$tmp/names" || problems="$problems; names $f, which no header declares"
		done
		for ref in $(section "$page" 'SEE ALSO' | grep -oE '^\.BR +iobuf[a-z0-9_]* +\([37]\)' | sed -E 's/^\.BR +//; s/ +\(/./; s/\)$//'); do
			[ -f "$man/$ref" ] || problems="$problems; SEE ALSO refers to ${ref%.*}(${ref##*.}), which has no page"
		done
	fi
	if [ -z "$problems" ]; then
		ok "man/$base.3 names only declared functions and has every section"
	else
		not_ok "man/$base.3:${problems#;}"
	fi
done

# ---- iobuf(7) lists every public function ------------------------------------
if [ -f "$man/iobuf.7" ]; then
	missing=
	for f in $(cat "$tmp/names"); do
		grep -Eq "^\.BR +$f +\(3\)" "$man/iobuf.7" || missing="$missing $f"
	done
	if [ -z "$missing" ]; then
		ok "iobuf(7) lists every public function"
	else
		not_ok "iobuf(7) does not list:$missing (add each to its header's entry under FUNCTIONS in man/iobuf.7)"
	fi
else
	not_ok "man/iobuf.7 exists"
fi

# ---- every page is installed --------------------------------------------------
if [ -f "$top/Makefile.am" ]; then
	# The words of the dist_man_MANS assignment, continuation lines joined.
	awk '/^dist_man_MANS[ \t]*\+?=/ { on = 1 } on { line = $0; cont = sub(/\\$/, "", line); print line; if (!cont) on = 0 }' \
		"$top/Makefile.am" | sed 's/^dist_man_MANS[ \t]*+*=//' | tr ' \t' '\n\n' | grep . | sed 's|^man/||' | sort -u >"$tmp/listed"
	(cd "$man" && ls *.3 *.7 2>/dev/null) | sort -u >"$tmp/present"
	unlisted=$(comm -23 "$tmp/present" "$tmp/listed" | tr '\n' ' ')
	absent=$(comm -13 "$tmp/present" "$tmp/listed" | tr '\n' ' ')
	if [ -z "$unlisted$absent" ]; then
		ok "every page is in dist_man_MANS (installed by make install)"
	else
		not_ok "dist_man_MANS in Makefile.am and man/ differ: not listed: ${unlisted:-none}; listed but missing: ${absent:-none}"
	fi
else
	ok "# SKIP no Makefile.am beside the pages"
fi

# ---- lint -----------------------------------------------------------------------
if command -v groff >/dev/null 2>&1; then
	lint() { groff -t -man -ww -z "$1" 2>&1; }
	linter="groff -t -man -ww -z"
elif command -v mandoc >/dev/null 2>&1; then
	lint() { mandoc -T lint -W warning "$1" 2>&1; }
	linter="mandoc -T lint"
else
	lint=
fi
for page in "$man"/*.3 "$man"/*.7; do
	[ -f "$page" ] || continue
	if [ -z "${linter:-}" ]; then
		ok "$(basename "$page"): lint # SKIP neither groff nor mandoc is installed (apt-get install groff-base)"
		continue
	fi
	out=$(lint "$page")
	if [ -z "$out" ]; then
		ok "$(basename "$page"): $linter is silent"
	else
		not_ok "$(basename "$page"): $linter warns"
		echo "$out" | head -20 | diag
	fi
done

echo "1..$n"
[ "$failures" -eq 0 ] && echo "# man pages in sync with the headers" || echo "# $failures problem(s) above"
exit 0
