// kurz's one script, and every page works without it: it only adds the copy buttons.
"use strict";
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const status = button.parentElement.querySelector(".copied");
  try {
    await navigator.clipboard.writeText(button.dataset.copy);
    if (status) status.textContent = "Copied";
  } catch (_) {
    if (status) status.textContent = "Select the link and copy it";
  }
});
