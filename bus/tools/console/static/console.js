// Live parts: an element with data-stream="/url" is replaced by each "update" event the
// server sends there (Server-Sent Events; the browser reconnects by itself).
"use strict";
function fillTokens(root) {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (!meta) return;
  for (const input of root.querySelectorAll("input.csrf")) input.value = meta.content;
}
document.addEventListener("DOMContentLoaded", () => {
  fillTokens(document);
  for (const element of document.querySelectorAll("[data-stream]")) {
    const source = new EventSource(element.dataset.stream);
    source.addEventListener("update", (event) => {
      element.innerHTML = event.data;
      fillTokens(element);
      element.dataset.updates = String(Number(element.dataset.updates || 0) + 1);
    });
  }
});
