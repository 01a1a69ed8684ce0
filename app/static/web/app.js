// The portfolio pages' own script: the CSRF header for htmx, the allocation chart and the value-over-time chart.
// Loaded as a module (deferred, so htmx and Chart.js, loaded before it, are there); no inline script anywhere.

const csrf = document.querySelector('meta[name="csrf-token"]')?.content;

// Every request htmx makes carries the session's CSRF token (app/web/session.py).
document.body.addEventListener("htmx:configRequest", (event) => {
  if (csrf) event.detail.headers["X-CSRF-Token"] = csrf;
});

// The value-over-time lines' colours; the allocation chart's come from the server, one per symbol (app/web/colours.py).
const COLOURS = ["#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#dc2626", "#ca8a04", "#db2777", "#4b5563", "#65a30d"];
const charts = new Set();

function drawCharts(root) {
  for (const chart of charts) {
    if (!chart.canvas.isConnected) {
      chart.destroy();
      charts.delete(chart);
    }
  }
  for (const canvas of root.querySelectorAll("canvas.history[data-dates]")) {
    if (window.Chart.getChart(canvas)) continue;
    charts.add(new window.Chart(canvas, historyChart(canvas)));
  }
  for (const canvas of root.querySelectorAll("canvas.allocation[data-values]")) {
    if (window.Chart.getChart(canvas)) continue;
    const labels = JSON.parse(canvas.dataset.labels);
    // Exact decimals from the server; the chart only needs their proportions.
    const values = JSON.parse(canvas.dataset.values).map(Number);
    // Each symbol's own colour, whatever its rank (app/web/colours.py), so it keeps it when another overtakes it.
    const colours = JSON.parse(canvas.dataset.colours);
    charts.add(
      new window.Chart(canvas, {
        type: "doughnut",
        data: {
          labels,
          datasets: [{ data: values, backgroundColor: colours, borderWidth: 1 }],
        },
        options: {
          animation: false,
          maintainAspectRatio: false,
          plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        },
      }),
    );
  }
}

// The value over time (app/web/templates/_performance.html): the value, and what was invested, a point a day or week.
function historyChart(canvas) {
  const labels = JSON.parse(canvas.dataset.dates);
  // Exact decimals from the server, as numbers for drawing only (the figures beside the chart are the server's text).
  const line = (label, key, colour, dash) => ({
    label,
    data: JSON.parse(canvas.dataset[key]).map(Number),
    borderColor: colour,
    backgroundColor: colour,
    borderDash: dash,
    borderWidth: 2,
    pointRadius: 0,
    pointHitRadius: 6,
    tension: 0,
  });
  return {
    type: "line",
    data: { labels, datasets: [line("Value", "values", COLOURS[0], []), line("Invested", "invested", COLOURS[4], [6, 4])] },
    options: {
      animation: false,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      scales: { x: { ticks: { maxTicksLimit: 6, maxRotation: 0 } }, y: { ticks: { maxTicksLimit: 6 } } },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
    },
  };
}

drawCharts(document);
// After each swap (a change redraws the section the chart is in).
document.body.addEventListener("htmx:afterSwap", () => drawCharts(document));

// Focus after a swap goes to what asks for it ([autofocus]: the add form's Symbol after an add, the notice after a
// save). htmx would move it when the swap settles, a moment after the new content is on screen, by when someone may
// be typing in it (under load, the caret jumped fields mid-word). Here it moves with the swap itself, and not at all
// if, while the request was out, the person went into another field: they are typing there.
let focusedWhenSent = null;
document.body.addEventListener("htmx:beforeRequest", () => {
  focusedWhenSent = document.activeElement;
});
document.body.addEventListener("htmx:afterSwap", () => {
  const wanted = document.querySelector(".htmx-added[autofocus], .htmx-added [autofocus]");
  if (!wanted) return;
  wanted.removeAttribute("autofocus"); // so that htmx, settling, leaves the focus alone
  // The field the request was sent from comes back with the same id, focused again by htmx: that is not typing.
  const active = document.activeElement;
  const typingElsewhere = active?.matches("input, select, textarea") && active.id !== focusedWhenSent?.id;
  if (!typingElsewhere) wanted.focus();
});
