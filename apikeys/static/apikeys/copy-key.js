// The issued-key page's Copy button: puts the key on the clipboard, and says so.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-copies]")) {
    const field = document.getElementById(button.dataset.copies);
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(field.value);
      } catch {
        // No Clipboard API (a page served over plain HTTP from another host): the old way.
        field.select();
        if (!document.execCommand("copy")) {
          button.textContent = "Press Ctrl+C to copy";
          return;
        }
      }
      button.textContent = "Copied";
    });
  }
});
