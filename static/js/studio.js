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

  // The page's poller (data-poll) skips its turn while the tab is hidden, or when no card
  // on the page is in flight (none carries a data-poll-id input).
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!event.detail.elt.matches("[data-poll]")) {
      return;
    }
    if (document.hidden || !document.querySelector("[data-poll-id]")) {
      event.preventDefault();
    }
  });
})();
