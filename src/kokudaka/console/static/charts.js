// Draws every chart of a console page from the JSON the server put beside its canvas
// (no inline script: the page's Content-Security-Policy allows scripts from files only).
(function () {
  "use strict";
  // Colours told apart by people with the common colour-vision deficiencies (Okabe-Ito).
  var PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source || typeof Chart === "undefined") { return; }
    var spec = JSON.parse(source.textContent);
    var type = canvas.dataset.chartType || "bar";
    var perPoint = type === "doughnut" || type === "pie";
    var datasets = spec.datasets.map(function (set, index) {
      // A doughnut tells its parts apart by colour; a bar or line chart its series.
      var colour = perPoint ? PALETTE.slice(0, set.data.length) : PALETTE[index % PALETTE.length];
      return {label: set.label, data: set.data, backgroundColor: colour, borderColor: colour,
              fill: false, tension: 0.2};
    });
    new Chart(canvas, {
      type: type,
      data: {labels: spec.labels, datasets: datasets},
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: type === "bar" ? {x: {stacked: spec.stacked}, y: {stacked: spec.stacked, beginAtZero: true,
                 ticks: spec.whole ? {precision: 0} : {},
                 title: {display: true, text: spec.unit}}} : {},
        plugins: {legend: {position: "bottom"}}
      }
    });
  }

  function drawAll(root) {
    root.querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSwap", function (event) { drawAll(event.target); });
})();
