/* The status page's script (www/status.html inlines it): subscribes to the worker's samples on
 * the comet-status channel with the product's own client, keeps the last KEEP of them and draws
 * rates (counter differences between samples over their times), waiting clients, worker lag
 * and the busiest channels. The key comes from the page's ?token= and goes on as the client's
 * token; it is taken out of the address bar so that it is not bookmarked or shared. */
(function () {
    'use strict';
    var CHANNEL = 'comet-status';
    var KEEP = 300;            // samples: 5 minutes at one a second
    var WINDOW_MS = KEEP * 1000;
    var TRANSPORTS = ['poll', 'sse', 'stream', 'iframe'];
    var COLORS = ['#2271b1', '#d63638', '#00a32a', '#dba617', '#8c5fc0'];
    var samples = [];
    var charts = {};
    var charted = typeof uPlot === 'function';

    var params = new URLSearchParams(location.search);
    var token = params.get('token');
    if (token) {
        params.delete('token');
        var rest = params.toString();
        history.replaceState(null, '', location.pathname + (rest ? '?' + rest : '') + location.hash);
    }

    function $(id) { return document.getElementById(id); }
    function state(text, bad) {
        var p = $('state');
        p.textContent = text;
        p.className = bad ? 'bad' : '';
    }

    /** Per second between samples a and b of counter f; null across a reset (Redis flushed). */
    function rate(a, b, f) {
        var dt = (b.time - a.time) / 1000, d = b.stats[f] - a.stats[f];
        return dt > 0 && d >= 0 ? d / dt : null;
    }

    /* Each chart: its series' labels and, per sample i, their values. */
    var SERIES = {
        publishes: {
            labels: ['events stored', 'publish requests'],
            values: function (i) {
                return i ? [rate(samples[i - 1], samples[i], 'published'), rate(samples[i - 1], samples[i], 'accepted')]
                    : [null, null];
            }
        },
        deliveries: {
            labels: ['deliveries'],
            values: function (i) { return [i ? rate(samples[i - 1], samples[i], 'delivered') : null]; }
        },
        waiting: {
            labels: TRANSPORTS,
            values: function (i) {
                var by = samples[i].stats.waiting_by || {};
                return TRANSPORTS.map(function (t) { return by[t] || 0; });
            }
        },
        lag: {
            labels: ['oldest queued publish'],
            values: function (i) { return [samples[i].stats.worker ? samples[i].stats.worker.lag_ms : null]; }
        }
    };

    function makeChart(name) {
        var box = $(name), def = SERIES[name];
        var series = [{}].concat(def.labels.map(function (label, k) {
            return { label: label, stroke: COLORS[k % COLORS.length], width: 2, spanGaps: false };
        }));
        return new uPlot({
            width: Math.max(320, box.clientWidth - 10), height: 220, series: series,
            scales: { x: { time: true } }, axes: [{}, { size: 60 }]
        }, [[]].concat(def.labels.map(function () { return []; })), box);
    }

    function drawCharts() {
        var name, def, data, i, v, k;
        for (name in SERIES) {
            def = SERIES[name];
            data = [samples.map(function (s) { return s.time / 1000; })];
            for (k = 0; k < def.labels.length; k++) data.push([]);
            for (i = 0; i < samples.length; i++) {
                v = def.values(i);
                for (k = 0; k < v.length; k++) data[k + 1].push(v[k]);
            }
            if (!charts[name]) charts[name] = makeChart(name);
            charts[name].setData(data);
            $(name).setAttribute('data-points', String(samples.length));
        }
    }

    function rows(tbody, list) {
        while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
        list.forEach(function (cells) {
            var tr = document.createElement('tr');
            cells.forEach(function (c, k) {
                var td = document.createElement('td');
                td.textContent = String(c);
                if (k > 0) td.className = 'n';
                tr.appendChild(td);
            });
            tbody.appendChild(tr);
        });
    }

    function drawTables(s) {
        var st = s.stats, w = st.worker || {}, a = st.archive || {};
        rows($('busiest').tBodies[0], (s.busiest || []).map(function (b) { return [b.channel, b.events]; }));
        rows($('now').tBodies[0], [
            ['waiting clients', st.waiting], ['inbox entries', st.inbox],
            ['worker', w.alive ? 'alive' : 'absent'], ['worker lag (ms)', w.lag_ms],
            ['archive backlog', a.backlog], ['events stored', st.published], ['deliveries', st.delivered],
            ['release', st.version]
        ]);
    }

    function onSample(data) {
        if (!data || !data.stats || typeof data.time !== 'number') return;
        samples.push(data);
        samples = samples.filter(function (s) { return s.time > data.time - WINDOW_MS; }).slice(-KEEP);
        if (charted) drawCharts();
        drawTables(data);
        document.body.setAttribute('data-samples', String(samples.length));
        state('live: a sample every second (' + client.transport + ')');
    }

    $('nocharts').hidden = charted;
    var client = new Comet.Client(location.pathname.replace(/\/[^\/]*$/, ''),
        { token: token || undefined, shared: false });
    client.on('state', function (s) { if (s !== 'open') state(s + '…'); });
    client.on('error', function (e) {
        state(e.kind === 'auth' ? 'refused: ' + e.message + ' (open this page with ?token=STATS_KEY)'
            : e.message, true);
    });
    // The samples the channel still holds fill the charts at once (those of the last 5 minutes).
    client.subscribe(CHANNEL, onSample, { history: KEEP });
})();
