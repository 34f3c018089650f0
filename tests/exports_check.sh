#!/bin/sh
# SPDX-License-Identifier: MIT
#
# exports_check.sh LIB MAP - the dynamic symbols that the shared library LIB
# defines are exactly the names that the linker version script MAP lists.
#
# MAP lists every exported symbol by name, in one node per release:
#
#   IOBUF_0.1 { global: iobuf_get; iobuf_put; local: *; };
#   IOBUF_0.2 { global: iobuf_strerror; } IOBUF_0.1;
#
# Names are read between "global:" and "local:" (or the end of the node); a
# wildcard there is an error, so that nothing is exported by a pattern.  Then
# it fails when LIB exports a symbol MAP does not name (an internal iobuf__
# symbol above all: those are exported only when MAP names them one by one),
# when MAP names a symbol LIB does not export, or when a symbol's version in
# LIB is not the node that lists it.  Prints what it compared; exits 0 or 1.
set -u
export LC_ALL=C

if [ $# -ne 2 ] || [ ! -f "$1" ] || [ ! -f "$2" ]; then
	echo "usage: $0 LIB.so MAP" >&2
	exit 2
fi
lib=$1
map=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/iobuf-exports.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
status=0

# "name node" for every name in a global: section of MAP, or "! why" lines.
awk '
{ text = text " " $0 }
END {
	# Comments out, punctuation apart.
	while ((b = index(text, "/*")) > 0) {
		rest = substr(text, b + 2)
		e = index(rest, "*/")
		text = substr(text, 1, b - 1) " " (e ? substr(rest, e + 2) : "")
	}
	gsub(/[{};:]/, " & ", text)
	n = split(text, tok, /[ \t\n]+/)
	state = "top"
	for (i = 1; i <= n; i++) {
		t = tok[i]
		if (t == "")
			continue
		if (state == "top") {
			if (t == "{") { state = "node"; mode = "global" }
			else if (tok[i + 1] == "{") { node = t }
			else { print "! unexpected \"" t "\" outside a version node"; exit }
			continue
		}
		if (state == "after") {   # "}" [parent] ";"
			if (t == ";") {
				state = "top"
				node = ""
			}
			continue
		}
		if (t == "}") { state = "after"; continue }
		if ((t == "global" || t == "local") && tok[i + 1] == ":") { mode = t; i++; continue }
		if (t == ";")
			continue
		if (t == "extern") { print "! extern blocks are not supported in " node; continue }
		if (mode != "global")
			continue
		if (t ~ /[*?\[]/) { print "! wildcard \"" t "\" in the global: list of " node ": list each name"; continue }
		if (tok[i + 1] != ";") { print "! no \";\" after \"" t "\" in " node; continue }
		print t " " node
	}
}' "$map" >"$tmp/map.raw"
grep '^! ' "$tmp/map.raw" | sed "s|^! |$map: |" >"$tmp/map.errors"
if [ -s "$tmp/map.errors" ]; then
	cat "$tmp/map.errors"
	status=1
fi
grep -v '^! ' "$tmp/map.raw" | sort >"$tmp/listed"
dups=$(cut -d' ' -f1 "$tmp/listed" | uniq -d | tr '\n' ' ')
if [ -n "$dups" ]; then
	echo "$map: listed more than once: $dups"
	status=1
fi
if [ ! -s "$tmp/listed" ]; then
	echo "$map: no name in any global: list"
	exit 1
fi

# "name version" for every defined dynamic symbol of LIB (version nodes themselves,
# type A, left out; a symbol without a version gets "-").
nm -D --defined-only "$lib" >"$tmp/nm" || { echo "nm -D $lib failed"; exit 1; }
awk 'NF >= 3 && $2 != "A" {
	name = $3; ver = "-"
	if ((k = index(name, "@")) > 0) { ver = substr(name, k); sub(/^@+/, "", ver); name = substr(name, 1, k - 1) }
	print name " " ver
}' "$tmp/nm" | sort -u >"$tmp/exported"

cut -d' ' -f1 "$tmp/listed" | sort -u >"$tmp/listed.names"
cut -d' ' -f1 "$tmp/exported" | sort -u >"$tmp/exported.names"
extra=$(comm -13 "$tmp/listed.names" "$tmp/exported.names")
missing=$(comm -23 "$tmp/listed.names" "$tmp/exported.names")
internal=$(echo "$extra" | grep '^iobuf__' || true)
if [ -n "$internal" ]; then
	echo "internal symbols exported without being named in $map:" $internal
	status=1
fi
other=$(echo "$extra" | grep -v '^iobuf__' | grep . || true)
if [ -n "$other" ]; then
	echo "exported by $(basename "$lib") but not listed in $map:" $other
	status=1
fi
if [ -n "$missing" ]; then
	echo "listed in $map but not exported by $(basename "$lib") (misspelt, or its IOBUF_API lost):" $missing
	status=1
fi
# Each symbol carries the version of the node that lists it.
wrong=$(join "$tmp/listed" "$tmp/exported" | awk '$3 != "-" && $2 != $3 { printf " %s(%s, listed in %s)", $1, $3, $2 }')
if [ -n "$wrong" ]; then
	echo "symbols whose version is not the node that lists them:$wrong"
	status=1
fi

if [ $status -eq 0 ]; then
	echo "exports: $(wc -l <"$tmp/exported.names" | tr -d ' ') symbols of $(basename "$lib"), each listed by name in $(basename "$map")" \
		"($(cut -d' ' -f2 "$tmp/listed" | sort -u | tr '\n' ' ' | sed 's/ $//'); $(grep -c '^iobuf__' "$tmp/exported.names") internal)"
fi
exit $status
