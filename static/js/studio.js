// Banana Studio's own behaviour: a few delegated listeners, no framework, no inline script
// (the Content-Security-Policy allows scripts from this site only).
(function () {
  "use strict";

  // Copy buttons: <button data-copy="text">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (button && navigator.clipboard) {
      navigator.clipboard.writeText(button.dataset.copy);
    }
  });

  // Polling elements (data-poll) skip their turn while the tab is hidden.
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (document.hidden && event.detail.elt.matches("[data-poll]")) {
      event.preventDefault();
    }
  });
})();
