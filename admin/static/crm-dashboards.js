/* Dashboards: draw every widget's Chart.js chart; the editor's add / remove / reorder of widget rows. */
(function () {
  "use strict";
  const CRM = window.CRM = window.CRM || {};
  const PALETTE = ["#1f5eff", "#12b886", "#f59f00", "#e8590c", "#7048e8", "#0c8599", "#d6336c", "#5c940d",
                   "#495057", "#1098ad"];

  function config(chart) {
    const type = chart.type || "bar";
    const horizontal = type === "horizontal_bar" || type === "funnel";
    const round = type === "pie" || type === "doughnut";
    const several = chart.datasets.length > 1;
    const datasets = chart.datasets.map(function (set, index) {
      const colour = PALETTE[index % PALETTE.length];
      const style = round
        ? {backgroundColor: chart.labels.map(function (_, i) { return PALETTE[i % PALETTE.length]; }), borderColor: "#fff"}
        : type === "line"
          ? {borderColor: colour, backgroundColor: colour + "33", fill: !several, tension: 0.3, pointRadius: 3}
          : {backgroundColor: colour, borderRadius: 4, maxBarThickness: 48};
      return Object.assign({label: set.label, data: set.data}, style);
    });
    const options = {
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: {legend: {display: round || several, position: "bottom", labels: {boxWidth: 12}}},
    };
    if (!round) {
      options.indexAxis = horizontal ? "y" : "x";
      options.scales = {x: {grid: {display: horizontal}}, y: {beginAtZero: true, grid: {display: !horizontal}}};
      if (horizontal) { options.scales.x.beginAtZero = true; }
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
