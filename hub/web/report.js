"use strict";
const COLUMNS = [
  ["tickets", "Số vé", "Tickets", (s) => s.tickets],
  ["mean", "Chờ TB", "Mean wait", (s) => minutes(s.mean_wait_secs)],
  ["p90", "Chờ P90", "90th pct wait", (s) => minutes(s.p90_wait_secs)],
  ["within", "Chờ ≤ 15 phút", "Waited ≤ 15 min", (s) => pct(s.share_wait_within_target)],
  ["service", "Phục vụ TB", "Mean service", (s) => minutes(s.mean_service_secs)],
  ["noshow", "Vắng mặt", "No-shows", (s) => s.no_shows],
  ["ratings", "Lượt đánh giá", "Ratings", (s) => s.ratings],
  ["satisfied", "Hài lòng", "Satisfied", (s) => pct(s.satisfaction_share)],
  ["accuracy", "Đúng hẹn chờ", "Called within promised wait", (s) => pct(s.promise_inside_share)],
];
function minutes(secs) { return secs == null ? "—" : (secs / 60).toFixed(1) + " phút"; }
function pct(x) { return x == null ? "—" : (100 * x).toFixed(0) + " %"; }
function table(id, rows, label) {
  const head = el("tr", {}, el("th", {}, label), ...COLUMNS.map((c) => el("th", {}, c[1] + " ", el("span", { class: "en" }, "/ " + c[2]))));
  document.getElementById(id).replaceChildren(head, ...rows.map(([name, s]) =>
    el("tr", {}, el("td", {}, name), ...COLUMNS.map((c) => el("td", { "data-col": c[0] }, String(c[3](s)))))));
}
async function load() {
  const day = document.getElementById("day").value;
  try {
    const r = await api("GET", "/api/report" + (day ? "?day=" + day : ""));
    document.getElementById("day").value = r.day;
    if (!r.report) { show("message", "Chưa có vé nào trong ngày / no tickets that day"); table("total", [], ""); return; }
    show("message", "");
    table("total", [["", r.report.total]], "");
    table("counters", r.report.counters.map((c) => ["Quầy " + c.counter, c.stats]), "Quầy / Counter");
    table("areas", r.report.areas.map((a) => [a.area, a.stats]), "Lĩnh vực / Area");
  } catch (err) {
    if (err.status === 401) { location.href = "/login"; return; }
    show("message", err.message, true);
  }
}
document.getElementById("day").addEventListener("change", load);
load();
