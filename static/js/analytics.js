// Draws the dashboard's charts (Chart.js, vendored in static/vendor) from the JSON the page embeds;
// redrawn after every HTMX swap of the filtered body.
(function () {
  const charts = {};
  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (!canvas || !window.Chart) return;
    if (charts[id]) charts[id].destroy();
    charts[id] = new window.Chart(canvas, config);
  }
  function render() {
    const source = document.getElementById("analytics-charts");
    if (!source) return;
    const data = JSON.parse(source.textContent);
    const trend = document.getElementById("trend-chart");
    if (trend) {
      const names = data.trend.names;
      const rate = (key, color) => ({ type: "line", label: names[key], data: data.trend[key], yAxisID: "rate",
                                      borderColor: color, backgroundColor: color, spanGaps: true, tension: 0.2 });
      draw("trend-chart", {
        data: { labels: data.trend.labels, datasets: [
          { type: "bar", label: names.calls, data: data.trend.calls, yAxisID: "calls", backgroundColor: "#c7d2fe" },
          rate("connect", "#0ea5e9"), rate("talk", "#6366f1"), rate("interest", "#f59e0b"), rate("lead", "#16a34a"),
        ] },
        options: { interaction: { mode: "index", intersect: false }, scales: {
          calls: { position: "left", beginAtZero: true }, rate: { position: "right", min: 0, max: 100 } } },
      });
    }
    const funnel = document.getElementById("funnel-chart");
    if (funnel) {
      draw("funnel-chart", {
        type: "bar",
        data: { labels: data.funnel.labels, datasets: [{ label: data.funnel.name, data: data.funnel.counts,
                                                         backgroundColor: "#6366f1" }] },
        options: { indexAxis: "y", plugins: { legend: { display: false } } },
      });
    }
  }
  document.addEventListener("DOMContentLoaded", render);
  document.addEventListener("htmx:afterSettle", render);
})();
