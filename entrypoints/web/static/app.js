// The scheduler UI's only script: local times, the language switch, and live updates from
// the event stream (the page's [data-live] parts are fetched again, without a reload), or by
// polling while a part says [data-poll] (a projection rebuild writes no event to follow).
"use strict";

function localTimes(root) {
  const lang = document.body.dataset.lang === "zh" ? "zh-CN" : undefined;
  root.querySelectorAll("time[datetime]").forEach((el) => {
    if (el.dataset.zone || el.dataset.done) return; // the task's own zone stays as rendered
    const when = new Date(el.getAttribute("datetime"));
    if (!isNaN(when)) { el.textContent = when.toLocaleString(lang); el.dataset.done = "1"; }
  });
}

function switchLanguage() {
  const button = document.getElementById("lang-switch");
  if (!button) return;
  button.addEventListener("click", () => {
    document.cookie = "scheduler_lang=" + button.dataset.langTo + "; path=/; SameSite=Strict; max-age=31536000";
    location.reload();
  });
}

let refreshing = false, pending = false, seen = null;
async function refresh() {
  if (refreshing) { pending = true; return; }
  refreshing = true;
  try {
    // The server renders once its views have the newest event heard here (X-Seen-Position).
    const headers = { Accept: "text/html" };
    if (seen !== null) headers["X-Seen-Position"] = String(seen);
    const answer = await fetch(location.href, { headers, credentials: "same-origin" });
    if (answer.ok && !answer.redirected) {
      const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
      // Views still behind what was heard (the bounded wait ran out): look again shortly.
      if (seen !== null && Number(fresh.body.dataset.head || 0) < seen) setTimeout(soon, 1000);
      fresh.querySelectorAll("[data-live][id]").forEach((part) => {
        const old = document.getElementById(part.id);
        if (old && !old.contains(document.activeElement)) { old.replaceWith(part); localTimes(part); }
      });
      keepPolling();
    }
  } finally {
    refreshing = false;
    if (pending) { pending = false; setTimeout(refresh, 150); }
  }
}

let polling = null;
function keepPolling() {
  const part = document.querySelector("[data-poll]");
  if (!part || polling) return;
  polling = setInterval(() => {
    if (document.querySelector("[data-poll]")) refresh();
    else { clearInterval(polling); polling = null; }
  }, Number(part.dataset.poll) || 1000);
}

let timer = null;
function soon() { if (!timer) timer = setTimeout(() => { timer = null; refresh(); }, 200); }

function follow() {
  if (!document.body.dataset.liveStream || !window.EventSource) return;
  if (!document.querySelector("[data-live]")) return;
  const dot = document.getElementById("live-dot");
  const source = new EventSource("/api/events/stream?after=" + (document.body.dataset.head || "0"));
  source.onopen = () => dot && dot.classList.add("on");
  source.onerror = () => dot && dot.classList.remove("on");
  source.onmessage = (message) => {
    const position = Number(message.lastEventId);
    if (Number.isInteger(position) && position > 0) seen = Math.max(seen || 0, position);
    soon();
  };
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  switchLanguage();
  follow();
  keepPolling();
});
