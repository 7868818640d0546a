# latency.gp: the benchmark's chart, one panel per scenario, one publish->deliver latency
# CDF per server (the files loadgen -o writes: "milliseconds cumulative-fraction").
# bench/run.sh calls it as
#   gnuplot -e "dir='D'; scenarios='sse-100 ...'; servers='comet-apache nchan'; out='F.png'" latency.gp
# and reads DIR/SCENARIO.SERVER.cdf, with that run's number of subscribers in DIR/SCENARIO.SERVER.n;
# it passes only scenarios with at least one non-empty file.
n = words(scenarios)
cols = (n > 3) ? 3 : n
rows = int((n + cols - 1) / cols)
set terminal pngcairo size 480 * cols, 360 * rows font ",9"
set output out
set multiplot layout rows, cols title "publish -> deliver latency, cumulative (loopback, one machine)"
set logscale x 10
set format x "%g"
set xlabel "latency (ms, log scale)"
set ylabel "fraction of deliveries"
set yrange [0:1.02]
set grid xtics ytics mxtics
set key bottom right
set style data steps
do for [i = 1:n] {
    s = word(scenarios, i)
    set title s
    plot for [j = 1:words(servers)] sprintf("%s/%s.%s.cdf", dir, s, word(servers, j)) \
        using 1:2 lw 2 title sprintf("%s (%s)", word(servers, j), \
        system(sprintf("cat '%s/%s.%s.n' 2> /dev/null", dir, s, word(servers, j))))
}
unset multiplot
