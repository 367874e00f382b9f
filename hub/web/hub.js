// motcua hub pages: a small helper for the JSON API (every change is a JSON POST, which the
// hub requires; cookies are sent by the browser, HttpOnly, never read here).
"use strict";
async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (!response.ok) {
    const error = new Error((data && data.message) || ("HTTP " + response.status));
    error.code = data && data.code;
    error.status = response.status;
    throw error;
  }
  return data;
}
function show(id, text, isError) {
  const el = document.getElementById(id);
  if (!el) return;
  el.textContent = text || "";
  el.className = "message" + (isError ? " error" : "");
}
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}
