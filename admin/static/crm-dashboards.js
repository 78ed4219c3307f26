/* Dashboards: draw every widget's Chart.js chart; the editor's add / remove / reorder of widget rows. */
(function () {
  "use strict";
  const CRM = window.CRM = window.CRM || {};
  const PALETTE = ["#1f5eff", "#12b886", "#f59f00", "#e8590c", "#7048e8", "#0c8599", "#d6336c", "#5c940d",
                   "#495057", "#1098ad"];

  const SERIES_COLOURS = {won: "#12b886", lost: "#e03131"};

  function integers(values) {
    return values.every(function (v) { return v === null || Number.isInteger(v); });
  }

  function peak(values) {
    return Math.max.apply(null, values.map(function (v) { return Math.abs(v || 0); }).concat([0]));
  }

  function fade(hex, share) {  // the brand colour, lighter towards the end of a funnel
    const n = parseInt(hex.slice(1), 16);
    const mix = function (c) { return Math.round(c + (255 - c) * share); };
    return "rgb(" + mix(n >> 16) + "," + mix((n >> 8) & 255) + "," + mix(n & 255) + ")";
  }

  function config(chart) {
    const type = chart.type || "bar";
    const horizontal = type === "horizontal_bar" || type === "funnel";
    const round = type === "pie" || type === "doughnut";
    const several = chart.datasets.length > 1;
    // A measure far smaller than the first (a count next to a sum of amounts) gets its own axis.
    const first = chart.datasets.length ? peak(chart.datasets[0].data) : 0;
    const datasets = chart.datasets.map(function (set, index) {
      const colour = SERIES_COLOURS[set.key] || PALETTE[index % PALETTE.length];
      let style;
      if (round) {
        style = {backgroundColor: chart.labels.map(function (_, i) { return PALETTE[i % PALETTE.length]; }), borderColor: "#fff"};
      } else if (type === "line") {
        style = {borderColor: colour, backgroundColor: colour + "33", fill: !several, tension: 0.3, pointRadius: 3};
      } else if (type === "funnel") {
        const last = Math.max(chart.labels.length - 1, 1);
        style = {backgroundColor: chart.labels.map(function (_, i) { return fade(PALETTE[0], 0.6 * i / last); }),
                 borderRadius: 4, barPercentage: 0.9, categoryPercentage: 0.9};
      } else {
        style = {backgroundColor: colour, borderRadius: 4, maxBarThickness: 56};
      }
      const secondary = !round && index > 0 && first > 0 && peak(set.data) * 20 < first;
      const axis = secondary ? (horizontal ? {xAxisID: "x1"} : {yAxisID: "y1"}) : {};
      return Object.assign({label: set.label, data: set.data}, style, axis);
    });
    const options = {
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: {legend: {display: round || several, position: "bottom", labels: {boxWidth: 12, usePointStyle: true}}},
    };
    if (!round) {
      const whole = chart.datasets.every(function (set) { return integers(set.data); });
      const value = {beginAtZero: true, grid: {color: "#eef0f4"}, ticks: whole ? {precision: 0} : {}};
      const category = {grid: {display: false}};
      options.indexAxis = horizontal ? "y" : "x";
      options.scales = horizontal ? {x: value, y: category} : {x: category, y: value};
      if (datasets.some(function (d) { return d.yAxisID || d.xAxisID; })) {
        const extra = {beginAtZero: true, grid: {display: false}, position: horizontal ? "top" : "right", ticks: {precision: 0}};
        options.scales[horizontal ? "x1" : "y1"] = extra;
      }
      if (type === "funnel") { options.plugins.legend.display = false; }
    }
    return {type: round ? type : (type === "line" ? "line" : "bar"), data: {labels: chart.labels, datasets: datasets},
            options: options};
  }

  CRM.drawDashboard = function (grid) {
    if (!grid || !window.Chart) { return; }
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    grid.querySelectorAll("[data-widget]").forEach(function (widget) {
      const canvas = widget.querySelector("canvas[data-chart]");
      const source = widget.querySelector("[data-chart-data]");
      if (!canvas || !source) { return; }
      const chart = new window.Chart(canvas, config(JSON.parse(source.textContent)));
      widget.chart = chart;
      canvas.setAttribute("data-drawn", "1");
    });
  };

  CRM.dashboardEditor = function (form) {
    if (!form) { return; }
    const rows = form.querySelector("[data-widget-rows]");
    const template = form.querySelector("[data-widget-template]");
    const empty = form.querySelector("[data-no-widgets]");
    function refresh() {
      const all = rows.querySelectorAll("[data-widget-row]");
      empty.hidden = all.length > 0;
      all.forEach(function (row, index) {
        row.querySelector("[data-move=up]").disabled = index === 0;
        row.querySelector("[data-move=down]").disabled = index === all.length - 1;
      });
    }
    form.querySelector("[data-add-widget]").addEventListener("click", function () {
      const row = template.content.firstElementChild.cloneNode(true);
      rows.insertBefore(row, empty);
      refresh();
      row.querySelector("select").focus();
    });
    rows.addEventListener("click", function (event) {
      const button = event.target.closest("button");
      const row = button && button.closest("[data-widget-row]");
      if (!row) { return; }
      if (button.hasAttribute("data-remove-widget")) {
        row.remove();
      } else if (button.getAttribute("data-move") === "up" && row.previousElementSibling) {
        rows.insertBefore(row, row.previousElementSibling);
      } else if (button.getAttribute("data-move") === "down" && row.nextElementSibling && row.nextElementSibling.matches("[data-widget-row]")) {
        rows.insertBefore(row.nextElementSibling, row);
      }
      refresh();
    });
    refresh();
  };
})();
