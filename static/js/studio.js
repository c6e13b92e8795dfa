// Banana Studio's own behaviour: delegated listeners, no framework, no inline script and no
// eval (the Content-Security-Policy allows scripts from this site only). Sections: helpers ·
// poll · announcements and focus after swaps · compose form (choices, draft, Ctrl+Enter,
// references) · menus · lightbox · bulk selection · small things (nav, copy, time zone,
// language). Its words come from Django's JavaScript catalogue (/jsi18n/<language>/…, loaded
// before this file): gettext, ngettext and interpolate, with the catalogue's own plural rule.
(function () {
  "use strict";

  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (all, name) { return String(values[name]); });
  };
  // A message chosen by ngettext (so makemessages finds both forms), with its count filled in.
  function counted(message, n) { return interpolate(message, { count: n }, true); }

  var $ = function (selector, root) { return (root || document).querySelector(selector); };
  var $$ = function (selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); };
  var on = function (type, handler, options) { document.addEventListener(type, handler, options); };

  function announce(text) {
    var region = $("#announcer");
    if (!region || !text) { return; }
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  function focusSomewhere(element) {
    if (!element) { return; }
    if (!element.matches("a, button, input, select, textarea, summary, [tabindex]")) {
      element.setAttribute("tabindex", "-1");
    }
    element.focus({ preventScroll: false });
  }

  // --- The page's one poll ------------------------------------------------------------
  // It skips its turn when no card on the page is in flight, and in a hidden tab, unless the
  // member asked to be notified: then it asks every fifth turn (10 s).
  var hiddenTurns = 0;
  on("htmx:beforeRequest", function (event) {
    if (!event.detail.elt.matches("[data-poll]")) { return; }
    if (!$("[data-poll-id]")) { event.preventDefault(); return; }
    if (document.hidden) {
      hiddenTurns += 1;
      if (!wantsNotifications() || hiddenTurns % 5) { event.preventDefault(); }
    }
  });

  // --- Announcements, notifications, the tab title, the queue -------------------------
  var baseTitle = document.title;
  var unseen = 0;
  function wantsNotifications() {
    return window.Notification && Notification.permission === "granted" && localStorage.getItem("banana-notify") === "1";
  }
  on("banana:finished", function (event) {
    var done = event.detail.done || 0, failed = event.detail.failed || 0;
    var text = (done ? counted(ngettext("%(count)s image is ready.", "%(count)s images are ready.", done), done) : "") +
      (failed ? " " + counted(ngettext("%(count)s image failed.", "%(count)s images failed.", failed), failed) : "");
    announce(text.trim());
    if (document.hidden) {
      unseen += done + failed;
      document.title = "(" + unseen + ") " + baseTitle;
      if (wantsNotifications()) { new Notification("Banana Studio", { body: text.trim(), icon: "/static/favicon.svg" }); }
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { unseen = 0; document.title = baseTitle; }
  });
  function setUpNotifyButton() {
    var button = $("[data-notify]");
    if (!button || !window.Notification || Notification.permission === "denied") { return; }
    // Offered only while something runs (updateQueue shows and hides it).
    button.dataset.notifyOffered = "1";
    var refresh = function () {
      var active = wantsNotifications();
      button.setAttribute("aria-pressed", active ? "true" : "false");
      button.textContent = active ? gettext("Notifications on") : gettext("Notify me when done");
    };
    refresh();
    button.addEventListener("click", function () {
      if (wantsNotifications()) { localStorage.removeItem("banana-notify"); refresh(); return; }
      Notification.requestPermission().then(function (permission) {
        if (permission === "granted") { localStorage.setItem("banana-notify", "1"); }
        refresh();
      });
    });
  }

  function updateQueue() {
    var queue = $("#queue");
    if (!queue) { return; }
    var n = $$("[data-in-flight]").length;
    var notify = $("[data-notify]");
    if (notify && notify.dataset.notifyOffered) { notify.hidden = n === 0; }
    queue.textContent = n === 0 ? "" : counted(ngettext("%(count)s image in progress", "%(count)s images in progress", n), n);
  }

  // Elapsed seconds of cards in flight tick without asking the server.
  window.setInterval(function () {
    $$("[data-in-flight] .elapsed[data-since]").forEach(function (el) {
      var since = Date.parse(el.dataset.since);
      if (!isNaN(since)) {
        el.textContent = interpolate(gettext("%(seconds)s s"), { seconds: Math.max(0, Math.round((Date.now() - since) / 1000)) }, true);
      }
    });
  }, 1000);

  // --- Focus after swaps --------------------------------------------------------------
  // Whatever an htmx swap removes, focus lands on something that makes sense, never on the
  // page's body: the element named by data-focus-after, the next card, or the main region.
  // Kept per request: a quick second request (the price after a remix) must not take over
  // the first one's plan before it settles.
  var focusPlans = new WeakMap();
  on("htmx:beforeSwap", function (event) {
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    var target = event.detail.target;
    var active = document.activeElement;
    if (!event.detail.xhr) { return; }
    focusPlans.set(event.detail.xhr, {
      selector: source && source.dataset ? source.dataset.focusAfter : null,
      lost: !!(target && active && (target === active || target.contains(active))),
      before: target ? target.previousElementSibling : null,
      parent: target ? target.parentElement : null,
      card: target ? target.closest(".card") : null,
    });
  });
  on("htmx:afterSettle", function (event) {
    tidyCards();
    updateQueue();
    var plan = event.detail.xhr && focusPlans.get(event.detail.xhr);
    if (!plan) { return; }
    focusPlans.delete(event.detail.xhr);
    if (plan.selector && $(plan.selector)) { focusSomewhere($(plan.selector)); return; }
    if (!plan.lost || (document.activeElement && document.activeElement !== document.body)) { return; }
    var next = plan.before ? plan.before.nextElementSibling : plan.parent && plan.parent.firstElementChild;
    var candidate = next && (next.matches("a, button, summary") ? next : $("a, button, summary", next));
    focusSomewhere(candidate || (plan.card && plan.card.isConnected && $("summary, a", plan.card)) || $("#main"));
  });
  function tidyCards() {
    // A job card whose every image was deleted goes too.
    $$(".job").forEach(function (card) { if (!$(".tile", card)) { card.remove(); } });
    $$(".card:not(.job)").forEach(function (card) {
      if (card.closest(".cards") && !$(".tile, .card-media", card)) { card.remove(); }
    });
  }

  // --- The compose form -----------------------------------------------------------------
  var compose = function () { return $("#compose"); };

  // Only the sizes and aspect ratios the chosen model takes are offered; a choice the model
  // does not take is kept (hidden, not sent) and comes back with a model that takes it.
  function applyModelChoices() {
    var form = compose();
    if (!form) { return; }
    var model = $("#id_model", form);
    var option = model && model.selectedOptions[0];
    if (!option) { return; }
    [["#id_image_size", option.dataset.sizes], ["#id_aspect_ratio", option.dataset.ratios]].forEach(function (pair) {
      var select = $(pair[0], form);
      if (!select || pair[1] === undefined) { return; }
      var allowed = pair[1].split(" ").filter(Boolean);
      var field = select.closest(".field");
      $$("option", select).forEach(function (o) { o.hidden = o.disabled = o.value !== "" && allowed.indexOf(o.value) < 0; });
      var takesNone = allowed.length === 0;
      field.hidden = takesNone;
      select.disabled = takesNone;
      if (!takesNone && select.selectedOptions[0] && select.selectedOptions[0].disabled) { select.value = ""; }
    });
  }

  // The draft (prompt and choices) is kept in this browser until a submit goes through, so
  // an expired session or a closed tab loses nothing that was typed.
  var DRAFT_FIELDS = ["prompt", "model", "aspect_ratio", "image_size", "count", "visibility", "reference_urls"];
  function saveDraft() {
    var form = compose();
    if (!form || !form.dataset.draftKey) { return; }
    var draft = {};
    DRAFT_FIELDS.forEach(function (name) { if (form.elements[name]) { draft[name] = form.elements[name].value; } });
    try { localStorage.setItem(form.dataset.draftKey, JSON.stringify(draft)); } catch (e) { /* full or off */ }
  }
  function restoreDraft() {
    var form = compose();
    if (!form || !form.dataset.draftKey || form.elements.prompt.value.trim()) { return false; }
    var draft;
    try { draft = JSON.parse(localStorage.getItem(form.dataset.draftKey) || "null"); } catch (e) { draft = null; }
    if (!draft) { return false; }
    DRAFT_FIELDS.forEach(function (name) {
      var element = form.elements[name];
      if (element && typeof draft[name] === "string") { element.value = draft[name]; }
    });
    if (form.elements.model && !form.elements.model.value) { form.elements.model.selectedIndex = 0; }
    return true;
  }
  on("input", function (event) { if (event.target.closest("#compose")) { saveDraft(); } });
  on("change", function (event) {
    if (!event.target.closest("#compose")) { return; }
    if (event.target.id === "id_model") { applyModelChoices(); }
    if (/^id_(model|image_size|count)$/.test(event.target.id)) {
      // The price is asked for once the choices are settled (a hidden size is not sent);
      // a newer choice waits for a request on its way, and only the newest is sent (hx-sync).
      document.body.dispatchEvent(new CustomEvent("banana:choice"));
    }
    saveDraft();
  });
  on("banana:submitted", function (event) {
    var form = compose();
    if (form && form.dataset.draftKey) { localStorage.removeItem(form.dataset.draftKey); }
    var n = event.detail.count || 1;
    announce(counted(ngettext("Generating %(count)s image.", "Generating %(count)s images.", n), n));
  });
  // Keep focus where it was while the submit button is disabled during the request.
  var focusedBeforeSubmit = null;
  on("htmx:beforeRequest", function (event) {
    if (event.detail.elt.id === "compose") { focusedBeforeSubmit = document.activeElement; }
  });
  on("htmx:afterRequest", function (event) {
    if (event.detail.elt.id !== "compose") { return; }
    var error = $("#compose .error");
    if (error) { focusSomewhere(error.closest(".field") ? $("input, textarea, select", error.closest(".field")) || error : error); return; }
    if (focusedBeforeSubmit && focusedBeforeSubmit.isConnected && document.activeElement === document.body) {
      focusedBeforeSubmit.focus();
    }
  });
  // Ctrl+Enter (Cmd+Enter on a Mac) submits the compose form from anywhere in it.
  on("keydown", function (event) {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) { return; }
    var form = event.target.closest && event.target.closest("#compose");
    if (form) { event.preventDefault(); form.requestSubmit(); }
  });

  // --- References: drop, paste, pick, reorder, remove (at most four in all) -------------
  // The chosen files live in one list; every change rebuilds the file input's FileList with
  // a DataTransfer, so the form submits exactly what the thumbnails show.
  var references = [];
  function referenceInput() { return $("#compose input[type=file][name=reference_files]"); }
  function maxReferences() {
    var zone = $("#compose [data-dropzone]");
    var urls = $("#id_reference_urls");
    var urlCount = urls ? urls.value.split("\n").filter(function (l) { return l.trim(); }).length : 0;
    return (zone ? parseInt(zone.dataset.max, 10) : 4) - urlCount;
  }
  function syncReferences() {
    var input = referenceInput();
    if (!input) { return; }
    var transfer = new DataTransfer();
    references.forEach(function (file) { transfer.items.add(file); });
    input.files = transfer.files;
    var list = $("#compose [data-ref-list]");
    list.textContent = "";
    references.forEach(function (file, index) {
      var item = document.createElement("li");
      var img = document.createElement("img");
      img.src = URL.createObjectURL(file);
      img.alt = file.name;
      img.onload = function () { URL.revokeObjectURL(img.src); };
      var row = document.createElement("div");
      row.className = "row";
      [["←", gettext("Move earlier: %(name)s"), -1], ["×", gettext("Remove: %(name)s"), 0], ["→", gettext("Move later: %(name)s"), 1]].forEach(function (spec) {
        if ((spec[2] === -1 && index === 0) || (spec[2] === 1 && index === references.length - 1)) { return; }
        var button = document.createElement("button");
        button.type = "button";
        button.className = "secondary small";
        button.textContent = spec[0];
        button.setAttribute("aria-label", interpolate(spec[1], { name: file.name }, true));
        button.dataset.refIndex = index;
        button.dataset.refMove = spec[2];
        row.appendChild(button);
      });
      item.appendChild(img);
      item.appendChild(row);
      list.appendChild(item);
    });
    var count = $("#compose [data-ref-count]");
    var max = parseInt($("#compose [data-dropzone]").dataset.max, 10);
    if (count) { count.textContent = interpolate(ngettext("%(count)s of %(max)s reference", "%(count)s of %(max)s references", max), { count: references.length, max: max }, true); }
  }
  function addReferences(files) {
    var added = 0;
    Array.prototype.forEach.call(files, function (file) {
      if (!/^image\/(png|jpeg|webp)$/.test(file.type)) { return; }
      if (references.length >= maxReferences()) { return; }
      references.push(file);
      added += 1;
    });
    if (files.length > added) {
      var most = parseInt($("#compose [data-dropzone]").dataset.max, 10);
      announce(counted(ngettext("At most %(count)s reference in all (PNG, JPEG or WebP).", "At most %(count)s references in all (PNG, JPEG or WebP).", most), most));
    }
    syncReferences();
  }
  function addReferenceFromUrl(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) { throw new Error(response.status); }
      return response.blob();
    }).then(function (blob) {
      var extension = (blob.type.split("/")[1] || "png").replace("jpeg", "jpg");
      addReferences([new File([blob], "reference-" + Date.now() + "." + extension, { type: blob.type })]);
      announce(gettext("Added as a reference."));
      var prompt = $("#id_prompt");
      if (prompt) { prompt.scrollIntoView({ block: "center" }); }
    }).catch(function () { announce(gettext("That image could not be added.")); });
  }
  on("change", function (event) {
    if (event.target === referenceInput() && !event.target.dataset.syncing) {
      // Files chosen with the picker join those already there (not replace them).
      var picked = Array.prototype.slice.call(event.target.files);
      var known = references.slice();
      references = [];
      known.forEach(function (f) { references.push(f); });
      addReferences(picked.filter(function (f) { return known.indexOf(f) < 0; }));
    }
  });
  on("click", function (event) {
    var move = event.target.closest("[data-ref-move]");
    if (move) {
      var index = parseInt(move.dataset.refIndex, 10), step = parseInt(move.dataset.refMove, 10);
      var file = references.splice(index, 1)[0];
      if (step !== 0) { references.splice(index + step, 0, file); }
      syncReferences();
      var buttons = $$("#compose [data-ref-list] button");
      focusSomewhere(buttons[Math.min(index * 2, buttons.length - 1)] || referenceInput());
      return;
    }
    var add = event.target.closest("[data-add-reference]");
    if (add) {
      event.preventDefault();
      if (add.closest("[data-close-dialog]") || add.matches("[data-close-dialog]")) { add.closest("dialog").close(); }
      var menu = add.closest("details");
      if (menu) { menu.open = false; }
      addReferenceFromUrl(add.dataset.addReference);
      return;
    }
    var pick = event.target.closest("[data-pick-reference]");
    if (pick) {
      var dialog = $("#reference-picker");
      htmx.ajax("GET", pick.dataset.url, { target: "#picker-items", swap: "innerHTML" });
      dialog.showModal();
    }
  });
  ["dragenter", "dragover"].forEach(function (type) {
    on(type, function (event) {
      var zone = event.target.closest && event.target.closest("#compose");
      if (!zone || !event.dataTransfer || Array.prototype.indexOf.call(event.dataTransfer.types, "Files") < 0) { return; }
      event.preventDefault();
      $("#compose [data-dropzone]").classList.add("dragging");
    });
  });
  on("dragleave", function (event) {
    var zone = $("#compose [data-dropzone]");
    if (zone && event.target.closest && event.target.closest("#compose") && !compose().contains(event.relatedTarget)) { zone.classList.remove("dragging"); }
  });
  on("drop", function (event) {
    if (!event.target.closest || !event.target.closest("#compose") || !event.dataTransfer) { return; }
    event.preventDefault();
    $("#compose [data-dropzone]").classList.remove("dragging");
    addReferences(event.dataTransfer.files);
  });
  on("paste", function (event) {
    if (!compose() || !event.clipboardData) { return; }
    var files = Array.prototype.slice.call(event.clipboardData.files || []);
    if (!files.length) { return; }
    event.preventDefault();
    addReferences(files);
  });
  // A remix replaces the form: its references start anew.
  on("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "compose" || (event.detail.elt && event.detail.elt.id === "compose" && !event.detail.elt.isConnected)) {
      references = [];
    }
    if ($("#compose")) { applyModelChoices(); }
  });

  // --- Card menus -----------------------------------------------------------------------
  function closeMenus(except) {
    $$("details.menu[open]").forEach(function (menu) { if (menu !== except) { menu.open = false; } });
  }
  on("click", function (event) {
    var menu = event.target.closest("details.menu");
    closeMenus(menu);
    if (menu && event.target.closest(".menu-items a:not([hx-get])")) { menu.open = false; }
  });
  on("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var menu = event.target.closest && event.target.closest("details.menu[open]");
    if (menu) { menu.open = false; $("summary", menu).focus(); }
  });
  on("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.classList && target.classList.contains("menu-items")) {
      var first = $("a, button, select", target);
      if (first) { first.focus(); }
    }
  });

  // --- Card menus: closed once an action answers (issue 19) --------------------------------
  // The event comes from the action (or, when its answer replaced it, from its nearest
  // parent still on the page); the menu's own loading request comes from the menu itself.
  on("htmx:afterRequest", function (event) {
    var menu = event.target.closest && event.target.closest("details.menu");
    if (!menu || event.target === menu || !event.detail.successful) { return; }
    if (event.target.closest("[data-menu-stays]")) { return; }
    var status = event.target.closest(".menu-picker") && $("[role=status]", menu);
    if (status && status.textContent.trim()) { announce(status.textContent.trim()); }
    menu.open = false;
  });
  on("click", function (event) {
    var copy = event.target.closest && event.target.closest(".menu-items [data-copy]");
    var menu = copy && copy.closest("details.menu");
    if (menu) { menu.open = false; $("summary", menu).focus(); }
  });

  // --- Lightbox -------------------------------------------------------------------------
  var shots = [], shown = -1;
  function showShot(index) {
    var box = $("#lightbox");
    if (!box || !shots.length) { return; }
    shown = (index + shots.length) % shots.length;
    var shot = shots[shown];
    var img = $("#lightbox-image");
    img.src = shot.dataset.full;
    img.alt = shot.dataset.prompt || "";
    $("#lightbox-prompt").textContent = shot.dataset.prompt || "";
    $("#lightbox-open").href = shot.dataset.detail;
    $("#lightbox-original").href = shot.dataset.original;
    $("#lightbox-download").href = shot.dataset.original + "?download=1";
    $("#lightbox-copy").dataset.copy = shot.dataset.prompt || "";
    $("#lightbox-position").textContent = (shown + 1) + " / " + shots.length;
    if (!box.open) { box.showModal(); }
  }
  on("click", function (event) {
    var link = event.target.closest(".shot > a");
    if (link && !event.ctrlKey && !event.metaKey && !event.shiftKey && event.button === 0 && $("#lightbox")) {
      event.preventDefault();
      shots = $$(".shot");
      showShot(shots.indexOf(link.closest(".shot")));
      return;
    }
    var step = event.target.closest("[data-lightbox-step]");
    if (step) { showShot(shown + parseInt(step.dataset.lightboxStep, 10)); return; }
    if (event.target.id === "lightbox") { event.target.close(); }  // a click on the backdrop
  });
  on("keydown", function (event) {
    var box = $("#lightbox");
    if (!box || !box.open) { return; }
    if (event.key === "ArrowRight") { event.preventDefault(); showShot(shown + 1); }
    if (event.key === "ArrowLeft") { event.preventDefault(); showShot(shown - 1); }
  });
  on("close", function (event) {
    if (event.target.id === "lightbox" && shots[shown]) {
      var link = $("a", shots[shown]);
      if (link && link.isConnected) { link.focus(); }
    }
  }, true);

  // --- The share page's lightbox (issue 19): keys ←/→/Esc, swipe, the display variant ---
  var shareShots = [], shareShown = -1, swipeFrom = null;
  function showShareShot(index) {
    var box = $("#share-lightbox");
    if (!box || !shareShots.length) { return; }
    shareShown = (index + shareShots.length) % shareShots.length;
    var shot = shareShots[shareShown];
    var img = $("#share-lightbox-image");
    img.src = shot.dataset.shareFull;
    img.alt = $("img", shot).alt;
    $("#share-lightbox-prompt").textContent = shot.dataset.sharePrompt || "";
    var download = $("#share-lightbox-download");
    if (download) { download.href = shot.dataset.shareDownload; }
    var position = $("#share-lightbox-position");
    if (position) { position.textContent = (shareShown + 1) + " / " + shareShots.length; }
    if (!box.open) { box.showModal(); }
  }
  on("click", function (event) {
    var shot = event.target.closest && event.target.closest("a.share-shot");
    if (shot && !event.ctrlKey && !event.metaKey && !event.shiftKey && event.button === 0) {
      event.preventDefault();
      shareShots = $$("a.share-shot");
      showShareShot(shareShots.indexOf(shot));
      return;
    }
    var step = event.target.closest && event.target.closest("[data-share-step]");
    if (step) { showShareShot(shareShown + parseInt(step.dataset.shareStep, 10)); return; }
    if (event.target.closest && event.target.closest("[data-share-close]")) { $("#share-lightbox").close(); return; }
    if (event.target.id === "share-lightbox") { event.target.close(); }  // the backdrop
  });
  on("keydown", function (event) {
    var box = $("#share-lightbox");
    if (!box || !box.open) { return; }
    if (event.key === "ArrowRight") { event.preventDefault(); showShareShot(shareShown + 1); }
    if (event.key === "ArrowLeft") { event.preventDefault(); showShareShot(shareShown - 1); }
  });
  on("pointerdown", function (event) {
    if (event.target.closest && event.target.closest("#share-lightbox")) { swipeFrom = event.clientX; }
  });
  on("pointerup", function (event) {
    if (swipeFrom === null) { return; }
    var moved = event.clientX - swipeFrom;
    swipeFrom = null;
    if (Math.abs(moved) > 50) { showShareShot(shareShown + (moved < 0 ? 1 : -1)); }
  });
  on("close", function (event) {
    if (event.target.id === "share-lightbox" && shareShots[shareShown]) { shareShots[shareShown].focus(); }
  }, true);

  // --- Bulk selection -------------------------------------------------------------------
  var lastTicked = null;
  function updateBulk() {
    var bar = $("[data-bulk]");
    if (!bar) { return; }
    var ticked = $$("[data-select]:checked").length;
    var count = $("[data-bulk-count]", bar);
    count.textContent = ticked ? count.dataset.some.replace("%(n)s", ticked) : count.dataset.none;
    $("[data-bulk-actions]", bar).hidden = ticked === 0;
    var all = $("[data-select-all]", bar);
    var boxes = $$("[data-select]");
    all.textContent = boxes.length && ticked === boxes.length ? gettext("Select none") : gettext("Select all");
  }
  on("click", function (event) {
    var box = event.target.closest("[data-select]");
    if (box) {
      var boxes = $$("[data-select]");
      if (event.shiftKey && lastTicked && lastTicked.isConnected) {
        var a = boxes.indexOf(lastTicked), b = boxes.indexOf(box);
        boxes.slice(Math.min(a, b), Math.max(a, b) + 1).forEach(function (other) { other.checked = box.checked; });
      }
      lastTicked = box;
      updateBulk();
      return;
    }
    var all = event.target.closest("[data-select-all]");
    if (all) {
      var every = $$("[data-select]");
      var tick = every.some(function (b) { return !b.checked; });
      every.forEach(function (b) { b.checked = tick; });
      updateBulk();
      return;
    }
    var confirmButton = event.target.closest("button[data-confirm]");
    if (confirmButton && !window.confirm(confirmButton.dataset.confirm)) { event.preventDefault(); }
  });
  on("htmx:afterSettle", updateBulk);

  // --- Small things ----------------------------------------------------------------------
  on("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (button && navigator.clipboard) {
      navigator.clipboard.writeText(button.dataset.copy).then(function () { announce(button.dataset.copied || gettext("Prompt copied.")); });
    }
    var toggle = event.target.closest("[data-nav-toggle]");
    if (toggle) {
      var bar = toggle.closest(".topbar");
      var open = !bar.classList.contains("open");
      bar.classList.toggle("open", open);
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    }
  });

  // The language switcher reloads the page: the studio's draft is saved first (it comes back
  // when the page is shown again, in the other language).
  on("submit", function (event) {
    if (event.target.matches("[data-language-switch]")) { saveDraft(); }
  });

  function start() {
    // The member's time zone, for times the server writes (the next page uses it).
    try {
      var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (zone && document.cookie.indexOf("tz=" + zone) < 0) {
        document.cookie = "tz=" + zone + ";path=/;max-age=31536000;samesite=lax";
      }
    } catch (e) { /* no Intl: times stay in the server's zone */ }
    var restored = restoreDraft();
    applyModelChoices();
    if (restored) {
      // The page priced its own defaults: price the restored choices (once htmx has set up).
      window.setTimeout(function () { document.body.dispatchEvent(new CustomEvent("banana:choice")); }, 0);
    }
    setUpNotifyButton();
    updateQueue();
    updateBulk();
  }
  // --- Edit threads: the before/after slider of the compare page -----------------------
  // The range input is the control (keyboard-operable as any range); the after image is
  // clipped from the left by its value, through a custom property (no inline style).
  function syncCompare(range) {
    var slider = $("[data-compare]", range.closest(".compare") || document);
    if (slider) { slider.style.setProperty("--cut", range.value + "%"); }
  }
  on("input", function (event) {
    if (event.target.matches && event.target.matches("[data-compare-range]")) { syncCompare(event.target); }
  });
  document.addEventListener("DOMContentLoaded", function () { $$("[data-compare-range]").forEach(syncCompare); });
  // A card menu's "Edit" opens the follow-up prompt in the card: the menu closes over it.
  on("click", function (event) {
    var edit = event.target.closest && event.target.closest("[data-closes-menu]");
    var menu = edit && edit.closest("details.menu");
    if (menu) { menu.open = false; }
  });

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();

// --- The team library and style presets in the composer (issue 20) ------------------------
// Chosen library assets travel as hidden library_asset ids (the server names their stored
// file; nothing is uploaded again). A preset is applied with one click: its id goes in the
// hidden "preset" field, its defaults fill the form, and the server shows the final prompt.
(function () {
  var gettext = window.gettext || function (text) { return text; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (all, name) { return String(values[name]); });
  };
  var $ = function (selector, root) { return (root || document).querySelector(selector); };

  function libraryList() { return $("#compose [data-library-chosen]"); }

  function addLibraryAsset(button) {
    var list = libraryList();
    if (!list || $("input[value='" + button.dataset.addLibraryAsset + "']", list)) { return; }
    var item = document.createElement("li");
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "library_asset";
    input.value = button.dataset.addLibraryAsset;
    var img = document.createElement("img");
    img.src = button.dataset.thumb;
    img.alt = button.dataset.name;
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link";
    remove.textContent = "×";
    remove.setAttribute("aria-label", interpolate(gettext("Remove: %(name)s"), { name: button.dataset.name }, true));
    remove.dataset.removeLibraryAsset = "";
    item.append(input, img, remove);
    list.append(item);
  }

  function applyPreset(button) {
    var form = $("#compose");
    var field = $("#id_preset", form);
    if (!form || !field) { return; }
    field.value = button.dataset.applyPreset;
    button.closest("[role=group]").querySelectorAll("[data-apply-preset]").forEach(function (other) {
      other.setAttribute("aria-pressed", other === button ? "true" : "false");
    });
    [["model", button.dataset.model], ["aspect_ratio", button.dataset.ratio], ["image_size", button.dataset.size], ["count", button.dataset.count]].forEach(function (pair) {
      var element = form.elements[pair[0]];
      if (element && pair[1]) {
        element.value = pair[1];
        element.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
    document.body.dispatchEvent(new CustomEvent("banana:preset"));
  }

  document.addEventListener("click", function (event) {
    var open = event.target.closest("[data-open-library]");
    if (open) {
      var dialog = $("#library-picker");
      htmx.ajax("GET", open.dataset.url, { target: "#library-picker-items", swap: "innerHTML" });
      dialog.showModal();
      return;
    }
    var add = event.target.closest("[data-add-library-asset]");
    if (add) {
      addLibraryAsset(add);
      add.closest("dialog").close();
      return;
    }
    var remove = event.target.closest("[data-remove-library-asset]");
    if (remove) {
      remove.closest("li").remove();
      return;
    }
    var preset = event.target.closest("[data-apply-preset]");
    if (preset) { applyPreset(preset); }
  });
  // The library page's upload: the chosen file's name replaces "Choose an image".
  document.addEventListener("change", function (event) {
    var choice = event.target.closest && event.target.closest("[data-shows-file-name]");
    if (choice && event.target.files && event.target.files[0]) {
      $(".button", choice).textContent = event.target.files[0].name;
    }
  });
  // A submit that went through starts the next job afresh.
  document.addEventListener("banana:submitted", function () {
    var list = libraryList();
    if (list) { list.textContent = ""; }
  });
})();
