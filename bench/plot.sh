#!/bin/sh
# SPDX-License-Identifier: MIT
#
# plot.sh GNUPLOT RESULTS_DIR - one PNG bar chart per workload from the
# wN.dat tables that iobuf-bench writes: peers along the x axis, one bar per
# buffer size, ns per pair on a log scale (lower is better); for W5 the
# wake-up latency, p50 and p99 at each size.
set -eu
gp=$1
out=$2
found=0
for dat in "$out"/w[1-5].dat; do
	[ -f "$dat" ] || continue
	found=1
	w=$(basename "$dat" .dat)
	title=$(head -n 1 "$dat" | sed 's/^# //')
	ncols=$(awk '!/^#/ { print NF; exit }' "$dat")
	png="$out/$w.png"
	ylabel="ns per pair"
	[ "$w" = w5 ] && ylabel="ns from the put to the waiting get's return"
	"$gp" <<GP
set terminal pngcairo size 1400,650 noenhanced font ",10"
set output "$png"
set title "$title (median of the rounds; log scale, lower is better)"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set ylabel "$ylabel"
set yrange [0.1:*]
set grid ytics mytics
set key top left
set xtics rotate by -30 nomirror
set rmargin 12
set bmargin 8
set datafile missing "NaN"
plot for [c=2:$ncols] "$dat" using c:xtic(1) title columnheader(c)
GP
	echo "bench-plot: $png"
done
[ "$found" -eq 1 ] || { echo "bench-plot: no results in $out; run make bench first"; exit 1; }
