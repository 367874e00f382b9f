"use strict";
let state = null;
async function refresh() {
  try {
    state = await api("GET", "/api/counter");
  } catch (err) {
    if (err.status === 401) { location.href = "/login"; return; }
    show("message", err.message, true);
    return;
  }
  document.getElementById("title").replaceChildren("Quầy " + state.counter_number + " ", el("span", { class: "en" }, "/ Counter " + state.counter_number));
  document.getElementById("officer").textContent = state.officer + " · " + state.areas.join(", ");
  const c = state.current;
  document.getElementById("current").textContent = c ? String(c.number) : "—";
  document.getElementById("current-info").textContent = c
    ? c.area + " · đã chờ " + c.waited_minutes + " phút / waited " + c.waited_minutes + " min · gọi " + c.calls + " lần / called " + c.calls + "×"
    : "Chưa gọi ai / nobody called";
  for (const id of ["again", "finish", "no-show", "transfer"]) document.getElementById(id).disabled = !c;
  document.getElementById("next").disabled = !!c;
  const body = document.getElementById("waiting");
  body.replaceChildren(...state.waiting.map((t) => el("tr", {},
    el("td", {}, String(t.number)), el("td", {}, t.area),
    el("td", {}, t.waited_minutes + " phút / min"),
    el("td", {}, t.offline ? el("span", { class: "tag" }, "cấp ngoại tuyến / issued offline") : "",
      t.for_counter ? el("span", { class: "tag" }, "chuyển đến quầy này / transferred here") : ""))));
  document.getElementById("count").textContent = String(state.waiting.length);
  const select = document.getElementById("transfer-to");
  const chosen = select.value;
  select.replaceChildren(
    ...state.other_counters.map((o) => el("option", { value: "counter:" + o.code }, "Quầy " + o.number + " / Counter " + o.number)),
    ...state.all_areas.map((a) => el("option", { value: "area:" + a }, "Lĩnh vực " + a + " / Area " + a)));
  if (chosen) select.value = chosen;
}
async function act(action, body) {
  try {
    const r = await api("POST", "/api/counter/" + action, body || {});
    if (action === "next" && !r.ticket) show("message", r.message);
    else if (r.ticket) show("message", { next: "Đã gọi số / called ", again: "Đã gọi lại số / called again ", finish: "Đã hoàn thành số / finished ", "no-show": "Vắng mặt / no-show: ", transfer: "Đã chuyển số / transferred " }[action] + r.ticket.number);
  } catch (err) { show("message", err.message, true); }
  await refresh();
}
function transfer() {
  const v = document.getElementById("transfer-to").value;
  if (!v) return;
  const [kind, code] = v.split(":");
  act("transfer", kind === "counter" ? { to_counter: code } : { to_area: code });
}
async function pair(kind) {
  try {
    const r = await api("POST", "/api/counter/pair", { kind });
    show("pair-code", "Mã ghép nối / pairing code: " + r.code + " (" + r.valid_minutes + " phút / min) — nhập tại /pair trên thiết bị / enter it at /pair on the device");
  } catch (err) { show("pair-code", err.message, true); }
}
document.getElementById("next").addEventListener("click", () => act("next"));
document.getElementById("again").addEventListener("click", () => act("again"));
document.getElementById("finish").addEventListener("click", () => act("finish"));
document.getElementById("no-show").addEventListener("click", () => act("no-show"));
document.getElementById("transfer").addEventListener("click", transfer);
document.getElementById("pair-rating").addEventListener("click", () => pair("rating"));
document.getElementById("pair-display").addEventListener("click", () => pair("display"));
document.getElementById("logout").addEventListener("click", async () => { await api("POST", "/api/logout", {}); location.href = "/login"; });
document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT" || e.ctrlKey || e.altKey || e.metaKey) return;
  const key = e.key.toLowerCase();
  const map = { n: "next", r: "again", f: "finish", x: "no-show" };
  if (map[key] && !document.getElementById(map[key]).disabled) { e.preventDefault(); act(map[key]); }
  if (key === "t" && state && state.current) { e.preventDefault(); transfer(); }
});
refresh();
setInterval(refresh, 5000);
