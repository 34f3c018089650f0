#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# abi_check.sh - libiobuf.so keeps the ABI of the previous release, or
# announces the break with a new soname.  TAP; exits 1 on a failure.
#
#   tests/abi_check.sh BUILD_DIR
#   tests/abi_check.sh --baseline COMMIT OUT
#
# The first form checks BUILD_DIR/.libs/libiobuf.so (libtool's, built with
# -g, as configure's default CFLAGS do) of this source tree:
#
#   1. its soname and file name are what configure.ac's libtool numbers
#      C:R:A give: libiobuf.so.(C-A), libiobuf.so.(C-A).A.R;
#   2. src/libiobuf.map lists every export once, by name (no wildcard),
#      in nodes IOBUF_<major>.<minor> none newer than configure.ac's
#      version;
#   3. every symbol the library exports has its version node
#      (name@@IOBUF_x.y in readelf --dyn-syms);
#   4. every name the map lists is defined by the library (GNU ld drops an
#      unknown name in silence), but for an internal iobuf__X listed beside
#      the public iobuf_X it is about to replace;
#   5. abidiff against the committed baseline of the previous release,
#      abi/libiobuf-X.Y.Z.abi and .types.abi, the newest older than
#      configure.ac's version.  A break is abidiff's ABI_INCOMPATIBLE_CHANGE
#      bit, or its ABI_CHANGE bit for anything but additions: a function
#      removed (or moved to another node), a signature or a type a function
#      reaches changed, or a public type no function reaches (the shape of
#      a pool, the enums) laid out or numbered differently.  A break fails
#      the check while the soname stays the baseline's; with a new soname
#      it is announced, and the summary is printed.  Names added without a
#      new soname must carry a version node the baseline does not have.
#
# abidiff sees types and symbols, not code: a new meaning for the bits of
# a handle, or an inline call that reads a field differently, passes
# unseen, and is a break all the same (the rules in src/libiobuf.map).
#
# Nothing but the committed baseline is read: no git history, no tags, so
# a shallow clone or a release tarball is enough.
#
# The second form writes a baseline: COMMIT, taken with git archive, is
# built in a temporary directory (${CC:-gcc}, CFLAGS=-g -O2) and the ABI of
# its libiobuf.so, public headers only, is written by abidw to OUT (name
# it abi/libiobuf-<version>.abi) and to OUT's .types.abi.  Both forms
# describe a library with the same abidw options (abi_dump below).
set -uo pipefail
export LC_ALL=C

src=$(cd "$(dirname "$0")/.." && pwd)
map=$src/src/libiobuf.map
tmp=$(mktemp -d "${TMPDIR:-/tmp}/iobuf-abi.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

usage() {
	echo "usage: $0 BUILD_DIR | --baseline COMMIT OUT" >&2
	exit 2
}

need() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || {
			echo "$0: $t not found (apt-get install abigail-tools binutils)" >&2
			exit 1
		}
	done
}

# abi_dump LIB INCLUDE_DIR OUT: the ABI of LIB as the headers under
# INCLUDE_DIR declare it, in two files.  OUT has every exported function
# with the types it reaches (abidw 2.2 links a function called inside the
# library to its symbol only with --exported-interfaces-only: without it,
# 18 of 88 would go unchecked).  OUT's .types.abi has every public type,
# those no function reaches too (struct iobuf_pool_shape of the inline
# iobuf_pool_index_buf(), the flag and tier enums), which only
# --load-all-types keeps.  Types the headers do not define are private;
# locations are file names, so that a file does not depend on where the
# library was built.
types_of() { echo "${1%.abi}.types.abi"; }
abi_dump() {
	local opts="--headers-dir $2 --drop-private-types --no-corpus-path --no-comp-dir-path --short-locs"
	# shellcheck disable=SC2086
	abidw --exported-interfaces-only $opts --out-file "$3" "$1" &&
		abidw --load-all-types $opts --out-file "$(types_of "$3")" "$1"
}

# ---- the second form: write a baseline ---------------------------------------
if [ "${1:-}" = --baseline ]; then
	[ $# -eq 3 ] || usage
	need git abidw
	commit=$2
	case $3 in /*) out=$3 ;; *) out=$PWD/$3 ;; esac
	rev=$(git -C "$src" rev-parse --verify --quiet "$commit^{commit}") || {
		echo "$0: $commit is not a commit of $src" >&2
		exit 1
	}
	mkdir -p "$tmp/src" "$tmp/build" || exit 1
	git -C "$src" archive "$rev" | tar -x -C "$tmp/src" || exit 1
	echo "building $rev in $tmp"
	(cd "$tmp/src" && ./autogen.sh) >"$tmp/autogen.out" 2>&1 || {
		tail -20 "$tmp/autogen.out"
		exit 1
	}
	(cd "$tmp/build" && "$tmp/src/configure" --disable-tests CC="${CC:-gcc}" CFLAGS="-g -O2") >"$tmp/configure.out" 2>&1 || {
		tail -30 "$tmp/configure.out"
		exit 1
	}
	make -C "$tmp/build" -j"${JOBS:-2}" libiobuf.la >"$tmp/make.out" 2>&1 || {
		tail -30 "$tmp/make.out"
		exit 1
	}
	abi_dump "$tmp/build/.libs/libiobuf.so" "$tmp/src/include" "$out" || exit 1
	echo "wrote $out and $(types_of "$out"): $(sed -n "1s/.* soname='\([^']*\)'.*/\1/p" "$out"), $(grep -c '<elf-symbol ' "$out") symbols"
	exit 0
fi

# ---- the first form: check a build --------------------------------------------
[ $# -eq 1 ] && [ -n "$1" ] && [ "${1#-}" = "$1" ] || usage
need abidw abidiff readelf
build=$(cd "$1" 2>/dev/null && pwd) || {
	echo "$0: no directory $1" >&2
	exit 1
}

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
finish() {
	echo "1..$n"
	if [ "$failures" -eq 0 ]; then
		echo "# the ABI of libiobuf.so is kept or its break announced"
		exit 0
	fi
	echo "# $failures problem(s) above"
	exit 1
}

lib=$build/.libs/libiobuf.so
if [ ! -e "$lib" ]; then
	not_ok "$lib exists (build the library first: make -C $build libiobuf.la)"
	finish
fi
if [ -f "$build/Makefile" ]; then
	conf_src=$(sed -n 's/^abs_top_srcdir = //p' "$build/Makefile")
	if [ -n "$conf_src" ] && [ "$(cd "$conf_src" 2>/dev/null && pwd -P)" != "$(cd "$src" && pwd -P)" ]; then
		not_ok "$build was configured from $conf_src, not from $src: run the script of that tree"
		finish
	fi
fi

# ---- 1. soname and file name from configure.ac's libtool numbers --------------
m4num() { sed -n "s/^m4_define(\[$1\], *\[\([0-9][0-9]*\)\])/\1/p" "$src/configure.ac"; }
cur=$(m4num iobuf_lt_current)
rev=$(m4num iobuf_lt_revision)
age=$(m4num iobuf_lt_age)
version="$(m4num iobuf_major).$(m4num iobuf_minor).$(m4num iobuf_patch)"
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p')
real=$(basename "$(readlink -f "$lib")")
if [ -z "$cur" ] || [ -z "$rev" ] || [ -z "$age" ] || [ "$age" -gt "$cur" ]; then
	not_ok "configure.ac defines iobuf_lt_current, _revision and _age, with age <= current (read '$cur:$rev:$age')"
else
	want_soname=libiobuf.so.$((cur - age))
	want_real=$want_soname.$age.$rev
	if [ "$soname" = "$want_soname" ] && [ "$real" = "$want_real" ]; then
		ok "$soname ($real) is what libtool $cur:$rev:$age gives"
	else
		not_ok "libtool $cur:$rev:$age in configure.ac gives $want_soname ($want_real), the build has ${soname:-no soname} ($real): reconfigure and rebuild $build"
	fi
fi

# ---- 2. the map: one node per release, every name spelled out ------------------
# "node name" for each global name; "node *parent" for a node's parent.
# Comments (/* */ and #) are dropped first.
tr '\n' '\001' <"$map" | sed -E -e 's,/\*([^*]|\*+[^*/])*\*+/, ,g' -e 's/#[^\x01]*//g' -e 's/[{};:]/ & /g' | tr '\001' ' ' |
	awk '{ for (i = 1; i <= NF; i++) w[++nw] = $i }
	END {
		for (i = 1; i <= nw; i++) {
			if (w[i + 1] == "{" && depth == 0) { node = w[i]; depth = 1; sect = ""; i++; continue }
			if (depth == 0) continue
			if (w[i] == "}") {
				depth = 0
				if (w[i + 1] != ";") print node " *" w[i + 1]
				continue
			}
			if (w[i + 1] == ":") { sect = w[i]; i++; continue }
			if (w[i] == ";") continue
			if (sect == "global") print node " " w[i]
			else if (sect == "local" && w[i] != "*") print node " !" w[i]
		}
	}' >"$tmp/map"
awk '$2 !~ /^[*!]/ { print $2 }' "$tmp/map" | sort >"$tmp/map_names"
nodes=$(awk '{ print $1 }' "$tmp/map" | uniq | tr '\n' ' ')
wild=$(awk '$2 !~ /^\*/ && $2 ~ /[][*?!]/ { print $1 ": " $2 }' "$tmp/map" | tr '\n' ' ')
dups=$(uniq -d "$tmp/map_names" | tr '\n' ' ')
# Node names, and none for a release after configure.ac's.
badnodes=
for node in $nodes; do
	nv=${node#IOBUF_}
	if [ "$nv" = "$node" ] || ! printf '%s\n' "$nv" | grep -qxE '[0-9]+\.[0-9]+'; then
		badnodes="$badnodes $node (not IOBUF_<major>.<minor>)"
	elif [ "$(printf '%s\n%s\n' "$nv" "${version%.*}" | sort -V | tail -1)" != "${version%.*}" ]; then
		badnodes="$badnodes $node (newer than $version)"
	fi
done
if [ ! -s "$tmp/map_names" ]; then
	not_ok "src/libiobuf.map lists the exported names"
elif [ -n "$wild$dups$badnodes" ]; then
	not_ok "src/libiobuf.map names every export once, explicitly, in nodes of releases up to $version:${wild:+ patterns or local names: $wild}${dups:+ listed twice: $dups}${badnodes:+ nodes:$badnodes}"
else
	ok "src/libiobuf.map names $(wc -l <"$tmp/map_names" | tr -d ' ') exports one by one in ${nodes% }"
fi

# ---- 3. every export has its version node ---------------------------------------
# readelf --dyn-syms -W: Num Value Size Type Bind Vis Ndx Name[@@version].
# The node symbols themselves (IOBUF_0.2, ABS) are not exports.
readelf --dyn-syms -W "$lib" |
	awk '$1 ~ /^[0-9]+:$/ && $7 != "UND" && ($5 == "GLOBAL" || $5 == "WEAK") && $8 != "" { print $8 }' |
	grep -vxE 'IOBUF_[0-9]+\.[0-9]+' | sort >"$tmp/dynsyms"
sed -n 's/^\([^@]*\)@@\{0,1\}\(IOBUF_[0-9][0-9]*\.[0-9][0-9]*\)$/\1 \2/p' "$tmp/dynsyms" | sort >"$tmp/exports"
unversioned=$(grep -v '@IOBUF_[0-9][0-9]*\.[0-9][0-9]*$' "$tmp/dynsyms" | tr '\n' ' ')
cut -d' ' -f1 "$tmp/exports" | sort -u >"$tmp/export_names"
unlisted=$(comm -23 "$tmp/export_names" "$tmp/map_names" | tr '\n' ' ')
if [ ! -s "$tmp/dynsyms" ]; then
	not_ok "libiobuf.so exports symbols"
elif [ -n "$unversioned$unlisted" ]; then
	not_ok "every export of libiobuf.so has a node of src/libiobuf.map:${unversioned:+ without a version: $unversioned}${unlisted:+ not listed by name: $unlisted}"
else
	ok "every export of libiobuf.so has its node: $(wc -l <"$tmp/exports" | tr -d ' ') as $(cut -d' ' -f2 "$tmp/exports" | sort | uniq -c | awk '{ printf "%s%s x %s", sep, $1, $2; sep = ", " }')"
fi

# ---- 4. every name of the map is defined -------------------------------------------
comm -13 "$tmp/export_names" "$tmp/map_names" >"$tmp/undefined"
ghosts=
pending=
npending=0
while read -r name; do
	case $name in
	iobuf__*)
		if grep -qxF "iobuf_${name#iobuf__}" "$tmp/export_names"; then
			pending="$pending $name"
			npending=$((npending + 1))
			continue
		fi
		;;
	esac
	ghosts="$ghosts $name"
done <"$tmp/undefined"
if [ -n "$ghosts" ]; then
	not_ok "every name in src/libiobuf.map is defined; not defined:$ghosts (a typo, or the rename is done: delete the old name)"
elif [ -n "$pending" ]; then
	ok "every name in src/libiobuf.map is defined, but $npending internal names that replace their public ones:$pending"
else
	ok "every name in src/libiobuf.map is defined"
fi

# ---- 5. abidiff against the previous release ------------------------------------------
baseline=
for f in "$src"/abi/libiobuf-*.abi; do
	case $f in *.types.abi) continue ;; esac
	[ -f "$f" ] || continue
	v=${f##*/libiobuf-}
	v=${v%.abi}
	[ "$v" != "$version" ] && [ "$(printf '%s\n%s\n' "$v" "$version" | sort -V | tail -1)" = "$version" ] || continue
	if [ -z "$baseline" ] || [ "$(printf '%s\n%s\n' "$v" "$bv" | sort -V | tail -1)" = "$v" ]; then
		baseline=$f
		bv=$v
	fi
done
if [ -z "$baseline" ] || [ ! -f "$(types_of "$baseline")" ]; then
	not_ok "a baseline abi/libiobuf-X.Y.Z.abi (and .types.abi) older than $version is committed (tests/abi_check.sh --baseline COMMIT OUT)"
	finish
fi
readelf -S -W "$lib" >"$tmp/sections" 2>&1
if ! grep -q ' \.debug_info ' "$tmp/sections"; then
	not_ok "$lib has debug information (configure with CFLAGS containing -g)"
	finish
fi
if ! abi_dump "$lib" "$src/include" "$tmp/new.abi" 2>"$tmp/abidw.err"; then
	not_ok "abidw reads $lib"
	diag <"$tmp/abidw.err"
	finish
fi
abidiff "$baseline" "$tmp/new.abi" >"$tmp/report" 2>&1
rc=$?
abidiff --non-reachable-types "$(types_of "$baseline")" "$tmp/new.types.abi" >"$tmp/report.types" 2>&1
rc_types=$?
old_soname=$(sed -n "1s/.* soname='\([^']*\)'.*/\1/p" "$baseline")
# The summaries: "Functions changes summary: 0 Removed, 1 Changed (2 filtered out), 3 Added
# functions", and the lines for variables and symbols.  A break is anything removed or changed
# there.  Of the second report only its "Unreachable types summary" counts, and of it only the
# changed types: a type both libraries have, laid out or numbered differently.  Which types a
# compiler's debug information reaches, or has at all, differs between gcc and clang, so a type
# removed from or added to that list is no evidence (and a program built against a type the
# library lost still runs: its layout and values are in the program).
lost=$(grep -i 'summary:' "$tmp/report" | sed 's/([^)]*)//g' |
	grep -oiE '[0-9]+ (removed|changed)' | awk '{ s += $1 } END { print s + 0 }')
lost_types=$(grep -i '^Unreachable types summary:' "$tmp/report.types" | sed 's/([^)]*)//g' |
	grep -oiE '[0-9]+ changed' | awk '{ s += $1 } END { print s + 0 }')
summary=$({ cat "$tmp/report"; grep -i '^Unreachable types summary:' "$tmp/report.types"; } | grep -i 'summary:')
reports() {
	echo "abidiff $baseline (exported functions and the types they reach):"
	cat "$tmp/report"
	echo "abidiff --non-reachable-types $(types_of "$baseline") (every public type):"
	cat "$tmp/report.types"
}
if [ $(((rc | rc_types) & 3)) -ne 0 ]; then
	not_ok "abidiff compares $baseline with $lib (exit status $rc, $rc_types)"
	reports | diag
elif [ $((rc & 8)) -ne 0 ] || { [ $((rc & 4)) -ne 0 ] && [ "$lost" -gt 0 ]; } || [ "$lost_types" -gt 0 ]; then
	if [ "$soname" = "$old_soname" ]; then
		not_ok "ABI of $version against $bv: a break without a new soname (still $soname): set libtool's current + 1, revision and age 0 in configure.ac and give the release a fresh node in src/libiobuf.map, or undo the change"
		reports | diag
	else
		ok "ABI of $version against $bv: a break, announced by the new soname ($old_soname -> $soname)"
		echo "$summary" | diag
	fi
else
	# Additions only, or nothing.  With the old soname, each added name needs a node the baseline lacks.
	sed -n "s/.*<elf-symbol name='\([^']*\)' version='\([^']*\)'.*/\1 \2/p" "$baseline" | sort -u >"$tmp/old_exports"
	cut -d' ' -f2 "$tmp/old_exports" | sort -u >"$tmp/old_nodes"
	cut -d' ' -f1 "$tmp/old_exports" | sort -u >"$tmp/old_names"
	misplaced=
	if [ "$soname" = "$old_soname" ]; then
		misplaced=$(join -v1 "$tmp/exports" "$tmp/old_names" | while read -r name node; do
			if grep -qxF "$node" "$tmp/old_nodes"; then printf ' %s@@%s' "$name" "$node"; fi
		done)
	fi
	if [ -n "$misplaced" ]; then
		not_ok "ABI of $version against $bv: names added to a node the baseline already has:$misplaced (give the release a new node that inherits the previous one)"
	elif [ $((rc & 4)) -ne 0 ]; then
		ok "ABI of $version against $bv ($old_soname -> $soname): additions only"
		echo "$summary" | diag
	else
		ok "ABI of $version against $bv ($old_soname -> $soname): no change"
		[ $((rc_types & 4)) -eq 0 ] || echo "$summary" | diag
	fi
fi
finish
