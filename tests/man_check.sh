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
#   - each public struct (struct iobuf_X { ... } in a header, but for the
#     few whose layout is there only for inline code, listed below) has a
#     page whose SYNOPSIS defines it with the header's fields, in order, and
#     whose DESCRIPTION names every field; iobuf(7) refers to that page, and
#     so does the SEE ALSO of every other page whose SYNOPSIS names it;
#   - every IOBUF_* constant a page names is defined by a header (a #define
#     or an enumerator; IOBUF__* is internal), and every enumerator of a
#     public enum is named by some page;
#   - every page is in dist_man_MANS of Makefile.am, so that it is installed;
#   - man-db's lexgrog reads each page's NAME as "name - what it does", as
#     mandb does to build the whatis index of man -k (skipped without man-db);
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

# ---- the public structs: "name<TAB>field field ..." per line ---------------
# Structs whose layout is in a header only so that inline functions can read
# it; their header comments say that no field is the caller's.
internal_structs="iobuf_cache iobuf_cache_tier iobuf_pool_shape iobuf_ring_slots"

# structs FILE: every "struct iobuf_X {" ... "};" block of FILE, C comments
# removed, and the names of its fields up to a /* private */ comment.
structs() {
	awk '
	function decl_names(d,   n, parts, i, p) {
		gsub(/[ \t]+/, " ", d)
		if (d ~ /^ *$/)
			return
		if (match(d, /\( *\* *[A-Za-z_][A-Za-z0-9_]* *\)/)) { # a function pointer
			p = substr(d, RSTART, RLENGTH)
			gsub(/[()* ]/, "", p)
			fields = fields " " p
			return
		}
		n = split(d, parts, ",")
		for (i = 1; i <= n; i++) {
			p = parts[i]
			sub(/:.*/, "", p)          # bit-field width
			gsub(/\[[^]]*\]/, "", p)   # array bounds
			sub(/[ \t]+$/, "", p)
			if (match(p, /[A-Za-z_][A-Za-z0-9_]*$/))
				fields = fields " " substr(p, RSTART, RLENGTH)
		}
	}
	{
		line = $0
		code = ""
		while (line != "") {
			if (incomment) {
				e = index(line, "*/")
				if (!e) {
					ctext = ctext " " line
					line = ""
					break
				}
				ctext = ctext substr(line, 1, e - 1)
				line = substr(line, e + 2)
				incomment = 0
				if (instruct && ctext ~ /^[ \t]*private[ \t]*$/)
					private = 1
				continue
			}
			b = index(line, "/*")
			if (!b) {
				code = code line
				break
			}
			code = code substr(line, 1, b - 1) " "
			line = substr(line, b + 2)
			incomment = 1
			ctext = ""
		}
		if (!instruct) {
			if (code !~ /^[ \t]*struct[ \t]+iobuf_[a-z0-9_]+[ \t]*\{/)
				next
			name = code
			sub(/^[ \t]*struct[ \t]+/, "", name)
			sub(/[ \t]*\{.*/, "", name)
			instruct = 1
			private = 0
			fields = ""
			decl = ""
			code = substr(code, index(code, "{") + 1)
		}
		if (!private)
			decl = decl " " code
		else if (code ~ /\}/)
			decl = decl " }"
		while ((k = index(decl, ";")) > 0) {
			j = index(decl, "}")
			if (j > 0 && j < k)
				break
			decl_names(substr(decl, 1, k - 1))
			decl = substr(decl, k + 1)
		}
		if (index(decl, "}") > 0) {
			print name "\t" substr(fields, 2)
			instruct = 0
		}
	}' "$1"
}

for h in "$inc"/iobuf/*.h; do
	[ -f "$h" ] || continue
	structs "$h" | sed "s|\$|	${h#"$top"/}|"
done | sort >"$tmp/allstructs"
: >"$tmp/structs"
while IFS="$(printf '\t')" read -r sname sfields shdr; do
	case " $internal_structs " in
	*" $sname "*) ;;
	*) printf '%s\t%s\t%s\n' "$sname" "$sfields" "$shdr" >>"$tmp/structs" ;;
	esac
done <"$tmp/allstructs"
cut -f1 "$tmp/structs" >"$tmp/structnames"
for sname in $internal_structs; do
	cut -f1 "$tmp/allstructs" | grep -qx "$sname" ||
		not_ok "internal struct $sname (internal_structs in tests/man_check.sh) is in no header: take it off that list"
done
ok "$(wc -l <"$tmp/structnames" | tr -d ' ') public structs ($(echo $internal_structs | wc -w | tr -d ' ') more only for inline code)"

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
		sections="NAME SYNOPSIS DESCRIPTION 'RETURN VALUE' ERRORS 'THREAD SAFETY' 'SEE ALSO'"
		# A struct's page has no return value, errors or thread safety of its own.
		grep -qx "$base" "$tmp/structnames" && sections="NAME SYNOPSIS DESCRIPTION 'SEE ALSO'"
		eval "set -- $sections"
		for s in "$@"; do
			grep -Eq "^\.SH[ \t]+\"?$s\"?[ \t]*$" "$page" || problems="$problems; no section $s"
		done
		# NAME: "name1, name2 \- what it does"
		section "$page" NAME | sed -n 's/ - .*//p' | tr ',' '\n' | sed 's/[ \t]//g' | grep . >"$tmp/named"
		grep -qx "$base" "$tmp/named" || problems="$problems; NAME does not name $base"
		section "$page" SYNOPSIS | grep -oE '\biobuf_[a-z0-9_]+[ \t]*\(' | sed 's/[ \t]*($//' >>"$tmp/named"
		for f in $(sort -u "$tmp/named"); do
			grep -qx "$f" "$tmp/names" || grep -qx "$f" "$tmp/structnames" ||
				problems="$problems; names $f, which no header declares"
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

# ---- every public struct has its page, with the header's fields ----------------
for page in "$man"/*.3; do
	[ -f "$page" ] || continue
	section "$page" SYNOPSIS >"$tmp/synopsis"
	structs "$tmp/synopsis" | sed "s|\$|	$(basename "$page" .3)|"
done >"$tmp/pagestructs"
while IFS="$(printf '\t')" read -r sname sfields shdr; do
	where=$(awk -F '\t' -v s="$sname" '$1 == s { print $3; exit }' "$tmp/pagestructs")
	if [ -z "$where" ]; then
		not_ok "struct $sname (declared in $shdr) has no page: write man/$sname.3 (NAME, SYNOPSIS with the struct as the header has it, DESCRIPTION of every field, SEE ALSO; see man/iobuf_set_config.3), add it to dist_man_MANS and to iobuf(7)"
		continue
	fi
	problems=
	pfields=$(awk -F '\t' -v s="$sname" '$1 == s { print $2; exit }' "$tmp/pagestructs")
	[ "$pfields" = "$sfields" ] ||
		problems="$problems; its SYNOPSIS has the fields ($pfields), $shdr has ($sfields)"
	section "$man/$where.3" DESCRIPTION >"$tmp/description"
	for f in $sfields; do
		grep -qw -- "$f" "$tmp/description" || problems="$problems; DESCRIPTION does not describe field $f"
	done
	grep -Eq "^\.BR +$where +\(3\)" "$man/iobuf.7" || problems="$problems; iobuf(7) does not refer to $where(3)"
	if [ -z "$problems" ]; then
		ok "struct $sname: man/$where.3 has its $(echo $sfields | wc -w | tr -d ' ') fields and describes each"
	else
		not_ok "struct $sname (man/$where.3):${problems#;}"
	fi
done <"$tmp/structs"

# A page whose SYNOPSIS names a documented struct refers to its page.
cut -f1,3 "$tmp/pagestructs" | sort -u >"$tmp/structpage"
unreferred=0
for page in "$man"/*.3; do
	[ -f "$page" ] || continue
	grep -q '^\.so ' "$page" && continue
	base=$(basename "$page" .3)
	missing=
	for sname in $(section "$page" SYNOPSIS | grep -oE 'struct +iobuf_[a-z0-9_]+' |
		sed 's/struct *//' | sort -u); do
		where=$(awk -F '\t' -v s="$sname" '$1 == s { print $2; exit }' "$tmp/structpage")
		[ -n "$where" ] && [ "$where" != "$base" ] || continue
		section "$page" 'SEE ALSO' | grep -Eq "^\.BR +$where +\(3\)" || missing="$missing $where(3)"
	done
	if [ -n "$missing" ]; then
		unreferred=$((unreferred + 1))
		not_ok "man/$base.3 names a struct documented elsewhere; add to its SEE ALSO:$missing"
	fi
done
[ "$unreferred" -eq 0 ] && ok "every page that names a documented struct refers to its page"

# ---- the IOBUF_* constants: the pages name only real ones, and every enumerator --
# Defined: the #define names and the enumerators of the headers (version.h.in too).
for h in "$inc"/iobuf/*.h "$inc"/iobuf/*.h.in "$inc"/iobuf.h; do
	[ -f "$h" ] || continue
	sed -n 's/^#[ \t]*define[ \t]\{1,\}\(IOBUF_[A-Z0-9_]*\).*/\1/p' "$h"
	# An enum's body, comments out, split at commas: each piece starts with its enumerator.
	awk '
	/^[ \t]*enum[ \t]+iobuf_[a-z0-9_]+[ \t]*\{/ { on = 1; body = "" }
	on { body = body " " $0 }
	on && /\}/ {
		on = 0
		sub(/^[^{]*\{/, "", body)
		sub(/\}.*/, "", body)
		while ((b = index(body, "/*")) > 0) {
			e = index(substr(body, b + 2), "*/")
			body = substr(body, 1, b - 1) " " (e ? substr(body, b + 2 + e + 1) : "")
		}
		n = split(body, piece, ",")
		for (i = 1; i <= n; i++)
			if (match(piece[i], /^[ \t]*IOBUF_[A-Z0-9_]+/)) {
				name = substr(piece[i], RSTART, RLENGTH)
				gsub(/[ \t]/, "", name)
				print "enum:" name
			}
	}' "$h"
done | sort -u >"$tmp/constants"
sed 's/^enum://' "$tmp/constants" | sort -u >"$tmp/defined"
grep '^enum:' "$tmp/constants" | sed 's/^enum://' | grep -v '^IOBUF__' | sort -u >"$tmp/enumerators"
for page in "$man"/*.3 "$man"/*.7; do
	[ -f "$page" ] || continue
	sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' "$page" | grep -oE '\bIOBUF_[A-Z0-9_]*[A-Z0-9]\b' | sort -u |
		sed "s|\$| $(basename "$page")|"
done >"$tmp/named-constants"
unknown=$(awk 'NR == FNR { ok[$1] = 1; next } !($1 in ok) { printf " %s (%s)", $1, $2 }' "$tmp/defined" "$tmp/named-constants")
if [ -z "$unknown" ]; then
	ok "every IOBUF_* constant the pages name is defined by a header"
else
	not_ok "the pages name constants no header defines:$unknown"
fi
undocumented=$(cut -d' ' -f1 "$tmp/named-constants" | sort -u | comm -23 "$tmp/enumerators" - | tr '\n' ' ')
if [ -z "$undocumented" ]; then
	ok "every enumerator of a public enum ($(wc -l <"$tmp/enumerators" | tr -d ' ')) is named by a page"
else
	not_ok "enumerators no page names: $undocumented(describe each in the page of its struct or function)"
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

# ---- whatis: man -k finds each page by its NAME ----------------------------------
if command -v lexgrog >/dev/null 2>&1; then
	unparsed=
	for page in "$man"/*.3 "$man"/*.7; do
		[ -f "$page" ] || continue
		grep -q '^\.so ' "$page" && continue
		base=$(basename "$page")
		base=${base%.*}
		# lexgrog prints: PAGE: "name1, name2 - description"
		lexgrog "$page" 2>/dev/null | grep -Eq "^[^:]*: \"([^\"]*, )?$base(, [^\"]*)? - [^\"]+\"$" ||
			unparsed="$unparsed $(basename "$page")"
	done
	if [ -z "$unparsed" ]; then
		ok "lexgrog reads every page's NAME as whatis does (name - what it does)"
	else
		not_ok "lexgrog cannot read NAME as \"name \\- what it does\" in:$unparsed"
	fi
else
	ok "whatis parse # SKIP lexgrog not installed (apt-get install man-db)"
fi

# ---- lint -----------------------------------------------------------------------
# A link page (.so man3/PAGE.3) is read as man reads it once installed: from
# a directory whose man3 is our man/.
mkdir "$tmp/root" && ln -s "$(cd "$man" && pwd)" "$tmp/root/man3"
if command -v groff >/dev/null 2>&1; then
	lint() { (cd "$tmp/root" && groff -t -man -ww -z "man3/$(basename "$1")" 2>&1); }
	linter="groff -t -man -ww -z"
elif command -v mandoc >/dev/null 2>&1; then
	lint() { (cd "$tmp/root" && mandoc -T lint -W warning "man3/$(basename "$1")" 2>&1); }
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
