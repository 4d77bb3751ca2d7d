/**
 * Console and admin pages: "Copy" buttons. A button with data-copy="ID" copies the value of
 * the input #ID and says so in the nearest [data-copy-status] (a live region), falling back
 * to selecting the text when the clipboard is not available.
 */

function copyFrom(button) {
  const input = document.getElementById(button.dataset.copy);
  if (!input) return;
  const status = button.parentElement && button.parentElement.querySelector("[data-copy-status]");
  const say = (text) => { if (status) status.textContent = text; };
  const fallback = () => {
    input.focus();
    input.select();
    say("Selected: press Ctrl+C (or ⌘C) to copy.");
  };
  if (!navigator.clipboard || !window.isSecureContext) return fallback();
  navigator.clipboard.writeText(input.value).then(() => say("Copied."), fallback);
}

document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("button[data-copy]") : null;
  if (button) copyFrom(button);
});

document.addEventListener("focusin", (event) => {
  const t = event.target;
  if (t instanceof HTMLInputElement && t.readOnly) t.select();
});
