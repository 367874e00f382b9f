"use strict";
document.getElementById("pair").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    const r = await api("POST", "/api/pair", { code: document.getElementById("code").value });
    location.href = r.page;
  } catch (err) { show("message", err.message, true); }
});
