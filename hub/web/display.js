"use strict";
// The hall display: the state on load, then each call pushed by the hub (server-sent events);
// each call's audio (chime + Vietnamese call-out) is played in turn, never over another.
// window.motcuaDisplay records what arrived, for the technician's console and the tests.
window.motcuaDisplay = { calls: [], played: [], connected: false };
const counters = new Map();
const recent = [];
const audioQueue = [];
let playing = false;
function render() {
  const grid = document.getElementById("calls");
  grid.replaceChildren(...[...counters.values()].sort((a, b) => a.number - b.number).map((c) =>
    el("div", { class: "counter" + (c.fresh ? " fresh" : ""), id: "counter-" + c.code },
      el("div", { class: "label" }, "Quầy " + c.number + " ", el("span", { class: "en" }, "/ Counter " + c.number)),
      el("div", { class: "number" }, c.ticket == null ? "—" : String(c.ticket)))));
  document.getElementById("recent").replaceChildren(...recent.slice(0, 6).map((r) =>
    el("span", {}, r.number + " → " + r.counter_number)));
}
async function load() {
  try {
    const s = await api("GET", "/api/display/state");
    counters.clear();
    for (const c of s.counters) counters.set(c.code, { code: c.code, number: c.number, ticket: c.ticket, fresh: false });
    recent.splice(0, recent.length, ...s.recent);
    render();
  } catch (err) {
    if (err.status === 401) { location.href = "/pair"; return; }
    document.getElementById("latest").textContent = err.message;
  }
}
function playNext() {
  if (playing || audioQueue.length === 0) return;
  playing = true;
  const url = audioQueue.shift();
  const audio = new Audio(url);
  const done = (ok) => { window.motcuaDisplay.played.push({ url, ok }); playing = false; playNext(); };
  audio.addEventListener("ended", () => done(true));
  audio.addEventListener("error", () => done(false));
  audio.play().catch(() => done(false));
}
function onCall(call) {
  call.received_ms = Date.now();
  window.motcuaDisplay.calls.push(call);
  for (const c of counters.values()) c.fresh = false;
  counters.set(call.counter, { code: call.counter, number: call.counter_number, ticket: call.number, fresh: true });
  recent.unshift({ number: call.number, counter_number: call.counter_number });
  document.getElementById("latest").textContent = call.text;
  render();
  if (call.audio) { audioQueue.push(call.audio); playNext(); }
}
function connect() {
  const source = new EventSource("/api/display/events");
  source.addEventListener("open", () => { window.motcuaDisplay.connected = true; });
  source.addEventListener("call", (e) => onCall(JSON.parse(e.data)));
  source.addEventListener("resync", load);
  source.addEventListener("error", () => { window.motcuaDisplay.connected = false; setTimeout(load, 1000); });
}
load().then(connect);
