/* Draws every chart of a dashboard page with Chart.js from the dashboard document embedded in the page
   (<script type="application/json" id="dashboard-document">: the JSON GET /api/v1/dashboards/<id> answers with).
   A chart box is <div class="chart-box" data-chart="<widget id>"><canvas></div>; once drawn it gets
   data-drawn="yes", or an error in its place (data-drawn="error") while the other charts still draw.

   Value axes carry one unit each with round ticks: durations in the one unit (ms, s, min, h, d) the axis's
   largest value reaches twice, money with the widget's currency symbol, percentages, counts with k/M/B.
   Tooltips give each value in full; long category labels wrap (or are cut with "…"), the tooltip shows them whole. */
(function () {
  "use strict";

  const block = document.getElementById("dashboard-document");
  if (!block) return;
  const doc = JSON.parse(block.textContent);
  const formats = JSON.parse((document.getElementById("dashboard-formats") || {}).textContent || "{}");
  const symbols = formats.currency_symbols || {};

  const GRID = "#eef1f4";
  const LEVEL_COLOURS = {ok: "#2f9e44", warning: "#f59f00", critical: "#e03131", none: "#adb5bd"};
  const GOOD = "#2f9e44", BAD = "#e03131", NEUTRAL = "#4E79A7", TRACK = "#e9ecef";
  const SECONDS_PER = {ms: 0.001, seconds: 1, minutes: 60};
  const UNITS = [["ms", 0.001], ["s", 1], ["min", 60], ["h", 3600], ["d", 86400]];
  const DATE = /^\d{4}-\d{2}-\d{2}$/;

  // ---- numbers for people ------------------------------------------------------------------------------------

  function grouped(value, decimals) {
    return (value === 0 ? 0 : value).toLocaleString("en-US", {minimumFractionDigits: decimals,
                                                              maximumFractionDigits: decimals});
  }

  function decimalsOf(step) {  // the decimals a tick step needs: 0.25 → 2, 5 → 0
    for (let d = 0; d < 6; d++) {
      const scaled = step * Math.pow(10, d);
      if (Math.abs(scaled - Math.round(scaled)) < 1e-6 * Math.max(1, scaled)) return d;
    }
    return 6;
  }

  function stepOf(ticks) {
    return ticks.length > 1 ? Math.abs(ticks[1].value - ticks[0].value) : 1;
  }

  function magnitude(maxAbs) {  // one suffix per axis
    return maxAbs >= 1e9 ? [1e9, "B"] : maxAbs >= 1e6 ? [1e6, "M"] : maxAbs >= 1e4 ? [1e3, "k"] : [1, ""];
  }

  function duration(seconds) {  // as the HTML writes durations (formatting.py)
    const a = Math.abs(seconds);
    if (a < 1) return grouped(seconds * 1000, 0) + " ms";
    if (a < 60) return grouped(seconds, 1) + " s";
    if (a < 3600) return grouped(seconds / 60, 1) + " min";
    if (a < 172800) return grouped(seconds / 3600, 1) + " h";
    return grouped(seconds / 86400, 1) + " d";
  }

  function moneyDecimals(values) {  // one precision for a set of amounts (formatting.money_decimals)
    const amounts = values.filter(v => typeof v === "number" && v !== 0).map(Math.abs);
    if (!amounts.length || Math.max(...amounts) >= 1) return 2;
    return Math.min(6, Math.max(2, 1 - Math.floor(Math.log10(Math.min(...amounts)))));
  }

  function plainNumber(v) {
    if (Number.isInteger(v) || Math.abs(v) >= 100) return grouped(v, 0);
    return v.toLocaleString("en-US", {maximumSignificantDigits: 3});
  }

  /* How a widget's values are plotted and written: plot (value → what the chart draws), tick (drawn value, tick
     step → axis text), tip (drawn value → tooltip text). ``values``: the largest the axis shows decides the
     unit. */
  function measure(format, currency, values) {
    const numbers = values.filter(v => typeof v === "number");
    const maxAbs = numbers.length ? Math.max(...numbers.map(Math.abs)) : 0;
    const sign = v => (v < 0 ? "-" : "");
    if (format in SECONDS_PER) {
      const toSeconds = SECONDS_PER[format];
      let unit = UNITS[0];
      for (const u of UNITS) if (maxAbs * toSeconds >= 2 * u[1]) unit = u;
      const factor = toSeconds / unit[1];
      return {unit: unit[0], plot: v => (v == null ? null : v * factor),
              tick: (v, step) => grouped(v, decimalsOf(step)) + " " + unit[0],
              tip: v => duration(v / factor * toSeconds)};
    }
    if (format === "currency") {
      const prefix = currency in symbols ? symbols[currency] : currency + " ";
      const [div, suffix] = magnitude(maxAbs);
      const places = moneyDecimals(numbers);
      return {plot: v => v,
              tick: (v, step) => (v === 0 ? prefix + "0"
                                  : sign(v) + prefix + grouped(Math.abs(v) / div, decimalsOf(step / div)) + suffix),
              tip: v => sign(v) + prefix + grouped(Math.abs(v), places)};
    }
    if (format === "percent") {
      return {plot: v => v, tick: (v, step) => grouped(v * 100, decimalsOf(step * 100)) + "%",
              tip: v => grouped(v * 100, 1) + "%"};
    }
    const [div, suffix] = magnitude(maxAbs);
    return {plot: v => v, integer: format === "integer",
            tick: (v, step) => (v === 0 ? "0" : grouped(v / div, decimalsOf(step / div)) + suffix),
            tip: v => (format === "integer" ? grouped(v, 0) : format === "decimal" ? grouped(v, 2) : plainNumber(v))};
  }

  // ---- labels ------------------------------------------------------------------------------------------------

  /* ``text`` in lines of at most ``width`` characters (at most ``lines`` of them): breaks at spaces, and a word
     longer than a line after its last _ - . / that fits (else anywhere); what does not fit ends in "…". */
  function wrap(text, width, lines) {
    const pieces = [];  // [piece, what joins it to the piece before: a space, or nothing inside a word]
    for (const word of String(text).split(/\s+/).filter(Boolean)) {
      let rest = word, joiner = " ";
      while (rest.length > width) {
        const cut = Math.max(...["_", "-", ".", "/"].map(c => rest.lastIndexOf(c, width - 1)));
        const at = cut > 0 ? cut + 1 : width;
        pieces.push([rest.slice(0, at), joiner]);
        rest = rest.slice(at);
        joiner = "";
      }
      if (rest) pieces.push([rest, joiner]);
    }
    const out = [];
    for (const [piece, joiner] of pieces) {
      const last = out.length - 1;
      if (last >= 0 && (out[last] + joiner + piece).length <= width) out[last] += joiner + piece;
      else out.push(piece);
    }
    if (out.length > lines) {
      out.length = lines;
      out[lines - 1] = out[lines - 1].slice(0, width - 1) + "…";
    }
    return out.length > 1 ? out : out[0] || "";
  }

  function dayOfWeek(label) {
    return new Date(label + "T00:00:00Z").toLocaleDateString("en-GB", {weekday: "short", timeZone: "UTC"});
  }

  // ---- axes --------------------------------------------------------------------------------------------------

  function valueAxis(m, title, stacked, extra) {
    return Object.assign({
      beginAtZero: true, stacked: stacked, grid: {color: GRID}, border: {display: false},
      title: {display: Boolean(title), text: title},
      ticks: Object.assign({maxTicksLimit: 7, callback: (value, index, ticks) => m.tick(value, stepOf(ticks))},
                           m.integer ? {precision: 0} : {}),
    }, extra || {});
  }

  function categoryAxis(labels, title, horizontal, stacked) {
    const dates = labels.length > 0 && labels.every(x => DATE.test(x));
    const oneYear = dates && new Set(labels.map(x => x.slice(0, 4))).size === 1;
    return {
      stacked: stacked, grid: {display: false}, border: {color: "#cbd2d9"},
      title: {display: Boolean(title) && !horizontal, text: title},
      ticks: {
        autoSkip: true, autoSkipPadding: 8, maxRotation: horizontal || dates ? 0 : 50,
        callback: function (value) {
          const label = String(this.getLabelForValue(value));
          if (dates) return oneYear ? label.slice(5) : label;  // the seed's MM-DD axis
          const width = horizontal ? Math.max(10, Math.floor(this.chart.width * 0.3 / 7))
                                   : Math.max(10, Math.min(24, Math.floor(this.chart.width / labels.length / 6)));
          return wrap(label, width, 3);
        },
      },
    };
  }

  function tooltipTitle(items) {
    const label = items.length ? items[0].label : "";
    return DATE.test(label) ? label + " (" + dayOfWeek(label) + ")" : label;
  }

  // ---- one function per widget type --------------------------------------------------------------------------

  function barOrLine(box, w) {
    const d = w.data;
    let labels = d.labels.slice();
    let series = d.datasets.map(ds => ds.data.slice());
    const note = [];
    if (labels.length && labels.every(x => DATE.test(x))) {
      // a daily axis starts at the first day with data: the LLM marts carry 30 days, zeros before the first run
      const first = labels.findIndex((_, i) => series.some(values => values[i]));
      if (first > 0) {
        note.push("From " + labels[first] + ", the first day with data: the " + first + " day" +
                  (first > 1 ? "s" : "") + " before " + (first > 1 ? "are" : "is") + " zero.");
        labels = labels.slice(first);
        series = series.map(values => values.slice(first));
      }
    }
    const stacked = Boolean(d.stacked);
    const reach = stacked ? labels.map((_, i) => series.reduce((sum, values) => sum + Math.abs(values[i] || 0), 0))
                          : [].concat(...series);
    const m = measure(d.format, currency(w), reach);
    const line = d.chart_type === "line";
    const horizontal = Boolean(d.horizontal) && !line;
    const datasets = d.datasets.map((ds, n) => Object.assign({
      label: ds.label, data: series[n].map(m.plot), borderColor: ds.borderColor, backgroundColor: ds.backgroundColor,
    }, line ? {borderWidth: 2, pointRadius: labels.length > 45 ? 0 : 2, pointHoverRadius: 4,
               fill: d.datasets.length === 1 ? "origin" : false, spanGaps: false}
            : {borderRadius: 2, maxBarThickness: 46}));
    const valueTitle = d.y_label || (datasets.length === 1 ? datasets[0].label : "");
    const scales = horizontal
      ? {x: valueAxis(m, valueTitle, stacked, {position: "bottom"}), y: categoryAxis(labels, d.x_label, true, stacked)}
      : {x: categoryAxis(labels, d.x_label, false, stacked), y: valueAxis(m, valueTitle, stacked)};
    if (horizontal) {  // room for every bar and its (wrapped) label
      const width = Math.max(10, Math.floor(box.clientWidth * 0.3 / 7));
      const lines = labels.map(x => [].concat(wrap(x, width, 3)).length);
      box.style.height = Math.max(160, lines.reduce((sum, n) => sum + Math.max(24, n * 14 + 10), 0) + 64) + "px";
    }
    const chart = new Chart(box.querySelector("canvas"), {
      type: line ? "line" : "bar",
      data: {labels: labels, datasets: datasets},
      options: {
        indexAxis: horizontal ? "y" : "x",
        interaction: {mode: "index", intersect: false, axis: horizontal ? "y" : "x"},
        scales: scales,
        plugins: {
          legend: {display: datasets.length > 1, position: "top", align: "start",
                   labels: {boxWidth: 10, boxHeight: 10}},
          tooltip: {callbacks: {
            title: tooltipTitle,
            label: ctx => " " + ctx.dataset.label + ": " + (ctx.raw == null ? "—" : m.tip(ctx.raw)),
            footer: items => (stacked && items.length > 1
              ? "Total: " + m.tip(items.reduce((sum, it) => sum + (it.raw || 0), 0)) : ""),
          }},
        },
      },
    });
    if (note.length) addNote(box, note.join(" "));
    return chart;
  }

  function pie(box, w) {
    const d = w.data;
    const values = d.datasets[0].data;
    const total = values.reduce((sum, v) => sum + (v || 0), 0);
    const m = measure(d.format, currency(w), values);
    const share = v => ((v || 0) / total * 100).toFixed(0) + "%";
    const wide = () => box.clientWidth >= 460;
    return new Chart(box.querySelector("canvas"), {
      type: d.chart_type === "pie" ? "pie" : "doughnut",
      data: {labels: d.labels, datasets: [{label: d.datasets[0].label, data: values,
                                           backgroundColor: d.datasets[0].backgroundColor,
                                           borderColor: "#fff", borderWidth: 2}]},
      options: {
        cutout: d.chart_type === "pie" ? 0 : "58%",
        onResize: chart => { chart.options.plugins.legend.position = wide() ? "right" : "bottom"; },
        plugins: {
          legend: {position: wide() ? "right" : "bottom", labels: {
            boxWidth: 10, boxHeight: 10, padding: 8,
            generateLabels: chart => Chart.overrides.doughnut.plugins.legend.labels.generateLabels(chart).map(item =>
              Object.assign(item, {text: [].concat(wrap(d.labels[item.index], 26, 1))[0] + " · " +
                                         m.tip(values[item.index] || 0) + " · " + share(values[item.index])})),
          }},
          tooltip: {callbacks: {label: ctx => " " + ctx.label + ": " + m.tip(ctx.raw || 0) +
                                             " (" + share(ctx.raw) + ")"}},
        },
      },
    });
  }

  const gaugeTarget = {  // a mark across the ring where the target is
    id: "gaugeTarget",
    afterDatasetsDraw(chart, args, options) {
      const arc = chart.getDatasetMeta(0).data[0];
      if (options.at == null || !arc) return;
      const angle = Math.PI * (1 + Math.min(1, Math.max(0, options.at)));
      const ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = "#102a43";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(arc.x + Math.cos(angle) * (arc.innerRadius - 4), arc.y + Math.sin(angle) * (arc.innerRadius - 4));
      ctx.lineTo(arc.x + Math.cos(angle) * (arc.outerRadius + 4), arc.y + Math.sin(angle) * (arc.outerRadius + 4));
      ctx.stroke();
      ctx.restore();
    },
  };

  function gauge(box, w) {
    const d = w.data;
    const span = d.max - d.min || 1;
    const at = Math.min(1, Math.max(0, (d.value - d.min) / span));
    let colour = NEUTRAL;
    if (d.target != null) {
      colour = (d.direction === "lower" ? d.value <= d.target : d.value >= d.target) ? GOOD : BAD;
    }
    return new Chart(box.querySelector("canvas"), {
      type: "doughnut",
      data: {labels: [w.title, ""], datasets: [{data: [at, 1 - at], backgroundColor: [colour, TRACK], borderWidth: 0}]},
      options: {
        circumference: 180, rotation: -90, cutout: "70%", layout: {padding: 6},
        plugins: {legend: {display: false}, tooltip: {enabled: false},
                  gaugeTarget: {at: d.target == null ? null : (d.target - d.min) / span}},
      },
      plugins: [gaugeTarget],
    });
  }

  function heatmap(box, w) {
    const d = w.data;
    const xs = d.x_labels, ys = d.y_labels;
    const low = d.min, high = d.max;
    const m = measure(d.format, currency(w), [low, high]);
    const from = [232, 241, 250], to = [31, 78, 140];
    const colour = v => {
      if (v == null) return "#f1f3f5";
      const t = high > low ? (v - low) / (high - low) : 1;
      return "rgb(" + from.map((c, i) => Math.round(c + (to[i] - c) * t)).join(",") + ")";
    };
    box.style.height = Math.max(150, ys.length * 30 + 70) + "px";
    return new Chart(box.querySelector("canvas"), {
      type: "matrix",
      data: {datasets: [{
        label: d.datasets[0].label, data: d.datasets[0].data,
        backgroundColor: ctx => colour(ctx.raw && ctx.raw.v), borderColor: "#fff", borderWidth: 1,
        width: ({chart}) => (chart.chartArea || {width: 0}).width / xs.length,
        height: ({chart}) => (chart.chartArea || {height: 0}).height / ys.length,
      }]},
      options: {
        scales: {
          x: {type: "category", labels: xs, offset: true, grid: {display: false}, border: {display: false},
              title: {display: Boolean(d.x_label), text: d.x_label}, ticks: {autoSkip: true, maxRotation: 0}},
          // the first label on top (chartjs-chart-matrix reverses y by default)
          y: {type: "category", labels: ys, offset: true, reverse: false,
              grid: {display: false}, border: {display: false},
              title: {display: Boolean(d.y_label), text: d.y_label},
              ticks: {callback: function (value) { return wrap(this.getLabelForValue(value), 16, 2); }}},
        },
        plugins: {legend: {display: false}, tooltip: {callbacks: {
          title: items => (items.length ? items[0].raw.y + " · " + items[0].raw.x : ""),
          label: ctx => " " + ctx.dataset.label + ": " + (ctx.raw.v == null ? "—" : m.tip(ctx.raw.v)),
        }}},
      },
    });
  }

  const budgetLines = {  // the warning and alert thresholds and the budget itself, across the bar
    id: "budgetLines",
    afterDatasetsDraw(chart, args, options) {
      const x = chart.scales.x, area = chart.chartArea, ctx = chart.ctx;
      ctx.save();
      ctx.font = "11px " + Chart.defaults.font.family;
      ctx.textAlign = "center";
      for (const [share, text, dashed] of options.lines) {
        const at = x.getPixelForValue(share * options.limit);
        ctx.strokeStyle = dashed ? "#7b8794" : "#102a43";
        ctx.setLineDash(dashed ? [4, 3] : []);
        ctx.beginPath();
        ctx.moveTo(at, area.top);
        ctx.lineTo(at, area.bottom);
        ctx.stroke();
        ctx.fillStyle = "#52606d";
        ctx.fillText(text, at, area.top - 4);
      }
      ctx.restore();
    },
  };

  function budget(box, w) {
    const d = w.data;
    const spent = d.value || 0;
    const m = measure(d.format, currency(w), [spent, d.limit]);
    const top = Math.max(d.limit, spent) * 1.04 || 1;  // room for the budget line, then the next round tick
    return new Chart(box.querySelector("canvas"), {
      type: "bar",
      data: {labels: ["Spent this month"], datasets: [{label: "Spent this month", data: [spent],
                                                       backgroundColor: LEVEL_COLOURS[d.level] || NEUTRAL,
                                                       barThickness: 22, borderRadius: 3}]},
      options: {
        indexAxis: "y", layout: {padding: {top: 16, right: 8}},
        scales: {x: valueAxis(m, "", false, {min: 0, suggestedMax: top}), y: {display: false}},
        plugins: {
          legend: {display: false},
          tooltip: {callbacks: {label: ctx => " " + m.tip(ctx.raw) + " of " + m.tip(d.limit) +
                                             (d.limit > 0 ? " (" + (ctx.raw / d.limit * 100).toFixed(0) + "%)" : "")}},
          budgetLines: {limit: d.limit, lines: [[d.warn_at, (d.warn_at * 100).toFixed(0) + "%", true],
                                                [d.alert_at, (d.alert_at * 100).toFixed(0) + "%", true],
                                                [1, "budget", false]]},
        },
      },
      plugins: [budgetLines],
    });
  }

  const DRAW = {"bar-chart": barOrLine, "line-chart": barOrLine, "pie-chart": pie, gauge: gauge, heatmap: heatmap,
                "budget-bar": budget};

  // ---- the page ----------------------------------------------------------------------------------------------

  function currency(w) {
    return (w.data && w.data.currency) || w.options.currency || "USD";
  }

  function addNote(box, text) {
    const p = document.createElement("p");
    p.className = "chart-note";
    p.textContent = text;
    box.after(p);
  }

  function failed(box, message) {
    const div = document.createElement("div");
    div.className = "error";
    div.textContent = "This chart could not be drawn.";
    const code = document.createElement("code");
    code.textContent = message;
    div.append(code);
    box.replaceChildren(div);
    box.classList.add("failed");
    box.dataset.drawn = "error";
  }

  const widgets = new Map(doc.widgets.map(w => [w.id, w]));
  const boxes = document.querySelectorAll("[data-chart]");
  if (typeof Chart === "undefined") {
    boxes.forEach(box => failed(box, "Chart.js did not load (static/chart.umd.min.js)"));
    return;
  }
  const font = getComputedStyle(document.body).fontFamily;
  Object.assign(Chart.defaults, {responsive: true, maintainAspectRatio: false, animation: false, color: "#52606d"});
  Object.assign(Chart.defaults.font, {family: font, size: 11});
  boxes.forEach(box => {
    const w = widgets.get(box.dataset.chart);
    try {
      if (!w || w.status !== "ready" || !DRAW[w.type]) throw new Error("no chart data for widget " + box.dataset.chart);
      DRAW[w.type](box, w);
      box.dataset.drawn = "yes";
    } catch (err) {
      failed(box, String(err && err.message || err));
    }
  });
})();
