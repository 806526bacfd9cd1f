// The device page's chart of recent telemetry: one line per numeric key, from the scoped REST API.
(function () {
  "use strict";
  const box = document.getElementById("telemetry-chart");
  if (!box || typeof echarts === "undefined") return;
  const empty = document.getElementById("chart-empty");
  const hours = document.getElementById("chart-hours");
  const chart = echarts.init(box);
  window.addEventListener("resize", () => chart.resize());

  async function load() {
    const end = Date.now();
    const start = end - Number(hours.value) * 3600 * 1000;
    const params = new URLSearchParams({ startTs: start, endTs: end + 60000, limit: 2000 });
    if (box.dataset.keys) params.set("keys", box.dataset.keys);
    const response = await fetch(`${box.dataset.url}?${params}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const data = await response.json();
    const series = [];
    for (const [key, points] of Object.entries(data)) {
      const numeric = points.filter((p) => typeof p.value === "number");
      if (!numeric.length) continue;
      series.push({ name: key, type: "line", showSymbol: false, data: numeric.map((p) => [p.ts, p.value]) });
    }
    box.dataset.series = String(series.length);
    box.dataset.points = String(series.reduce((n, s) => n + s.data.length, 0));
    empty.classList.toggle("d-none", series.length > 0);
    chart.setOption(
      {
        animation: false,
        tooltip: { trigger: "axis" },
        legend: { top: 0 },
        grid: { left: 48, right: 16, top: 32, bottom: 32 },
        xAxis: { type: "time" },
        yAxis: { type: "value", scale: true },
        series,
      },
      true
    );
    box.dataset.ready = "1";
  }
  hours.addEventListener("change", load);
  load();
})();
