"use strict";
(async () => {
  const options = await api("GET", "/api/login/options");
  const name = document.getElementById("name");
  for (const s of options.staff) name.append(el("option", { value: s }, s));
  const counter = document.getElementById("counter");
  for (const c of options.counters) {
    counter.append(el("option", { value: c.code }, "Quầy " + c.number + " (" + c.areas.join(", ") + ")"));
  }
  document.getElementById("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("POST", "/api/login", {
        name: name.value, counter: counter.value, pin: document.getElementById("pin").value,
      });
      location.href = "/counter";
    } catch (err) {
      document.getElementById("pin").value = "";
      show("message", err.message, true);
    }
  });
})();
