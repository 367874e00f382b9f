"use strict";
// A counter's rating tablet: offers the ticket just finished at its counter, once.
let offered = null;
let thanksUntil = 0;
async function refresh() {
  let s;
  try { s = await api("GET", "/api/rating/current"); } catch (err) {
    if (err.status === 401) { location.href = "/pair"; return; }
    show("message", err.message, true); return;
  }
  document.getElementById("title").replaceChildren("Quầy " + s.counter_number + ": đánh giá sự hài lòng ", el("span", { class: "en" }, "/ Counter " + s.counter_number + ": how satisfied are you?"));
  const id = s.ticket ? s.ticket.ticket_id : null;
  if (id === (offered && offered.ticket_id)) return;
  offered = s.ticket;
  const levels = document.getElementById("levels");
  if (!offered) {
    document.getElementById("ticket").replaceChildren("Chưa có lượt phục vụ nào để đánh giá ", el("span", { class: "en" }, "/ Nothing to rate yet"));
    levels.replaceChildren();
    if (Date.now() > thanksUntil) show("message", "");
    return;
  }
  show("message", "");
  document.getElementById("ticket").replaceChildren("Số thứ tự " + offered.number + " ", el("span", { class: "en" }, "/ Ticket " + offered.number));
  levels.replaceChildren(...s.labels_vi.map((vi, i) => {
    const b = el("button", { class: "primary", id: "level-" + (i + 1) }, vi + " ", el("span", { class: "en" }, "/ " + s.labels_en[i]));
    b.addEventListener("click", () => rate(offered.ticket_id, i + 1));
    return b;
  }));
}
async function rate(ticketId, level) {
  try {
    await api("POST", "/api/rating", { ticket_id: ticketId, level });
    thanksUntil = Date.now() + 5000;
    show("message", "Cảm ơn quý khách đã đánh giá! / Thank you for your rating!");
  } catch (err) { show("message", err.message, true); }
  offered = { ticket_id: ticketId };
  document.getElementById("levels").replaceChildren();
  setTimeout(refresh, 100);
}
refresh();
setInterval(refresh, 1000);
