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
    describeChoices();
  }

  // A recent prompt, written again with one click.
  on("click", function (event) {
    var use = event.target.closest("[data-use-prompt]");
    if (!use) { return; }
    var prompt = $("#id_prompt");
    prompt.value = use.dataset.usePrompt;
    var list = use.closest("details");
    if (list) { list.open = false; }
    saveDraft();
    prompt.focus();
  });

  // The folded settings stay as the member left them, open or not, in this browser.
  on("toggle", function (event) {
    if (event.target.matches && event.target.matches("[data-composer-settings]")) {
      try { localStorage.setItem("banana-settings-open", event.target.open ? "1" : "0"); } catch (e) { /* off */ }
    }
  }, true);
  function restoreSettingsOpen() {
    var settings = $("#compose [data-composer-settings]");
    if (settings && localStorage.getItem("banana-settings-open") === "1") { settings.open = true; }
  }

  // The composer says what the chosen model is good for (and costs), and its folded settings
  // show their current choices on the button that opens them.
  function describeChoices() {
    var form = compose();
    var model = form && $("#id_model", form);
    var hint = form && $("[data-model-hint]", form);
    if (hint && model && model.selectedOptions[0]) { hint.textContent = model.selectedOptions[0].dataset.hint || ""; }
    var summary = form && $("[data-settings-summary]", form);
    if (!summary) { return; }
    var parts = [];
    ["#id_aspect_ratio", "#id_image_size", "#id_count", "#id_visibility"].forEach(function (selector) {
      var select = $(selector, form);
      if (!select || select.disabled || !select.value || !select.selectedOptions[0]) { return; }
      parts.push(selector === "#id_count" ? "×" + select.value : select.selectedOptions[0].textContent.trim());
    });
    var urls = referenceUrls().length;
    if (urls) { parts.push(counted(ngettext("%(count)s URL", "%(count)s URLs", urls), urls)); }
    summary.textContent = parts.length ? "· " + parts.join(" · ") : "";
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
    describeChoices();
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
    var settings = error && error.closest("details");
    if (settings) { settings.open = true; }
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
  // Every reference the submit will take shows in one list: those a remix or "use as
  // reference" brings along (drawn by the server, [data-inherited]), the chosen files, and the
  // URLs typed in the settings. The files live in one array; every change rebuilds the file
  // input's FileList with a DataTransfer, so the form submits exactly what the thumbnails show.
  // A file is checked as it is added, against the limits the server applies (the dropzone's
  // data-max, data-max-bytes and data-max-pixels, from the same settings).
  var references = [];
  function referenceInput() { return $("#compose input[type=file][name=reference_files]"); }
  function referenceZone() { return $("#compose [data-dropzone]"); }
  function mostReferences() {
    var zone = referenceZone();
    return zone ? parseInt(zone.dataset.max, 10) : 4;
  }
  function referenceUrls() {
    var urls = $("#id_reference_urls");
    return urls ? urls.value.split("\n").map(function (l) { return l.trim(); }).filter(Boolean) : [];
  }
  function inheritedReferences() { return $$("#compose [data-ref-list] [data-inherited]"); }
  // The library picker's chips (components/library_picker.html) count as references too.
  function libraryReferences() { return $$("#compose [data-library-chosen] > li"); }
  // And the applied preset's assets (its button's data-assets), those not chosen already.
  function presetReferences() {
    var preset = $("#compose [data-apply-preset][aria-pressed=true]");
    var chosen = $$("#compose [data-library-chosen] input[name=library_asset]").map(function (input) { return input.value; });
    return ((preset && preset.dataset.assets) || "").split(" ").filter(function (id) { return id && chosen.indexOf(id) < 0; });
  }
  function otherReferences() { return inheritedReferences().length + referenceUrls().length + libraryReferences().length + presetReferences().length; }
  function referencesCounted() { return references.length + otherReferences(); }
  function maxReferences() { return mostReferences() - otherReferences(); }
  function tooManyReferences() {
    var most = mostReferences();
    return counted(ngettext("At most %(count)s reference in all.", "At most %(count)s references in all.", most), most);
  }
  function referenceError(text) {
    var slot = $("#compose [data-ref-error]");
    if (!slot) { return; }
    slot.textContent = text || "";
    slot.hidden = !text;
  }
  function referenceButton(label, text, data) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary small";
    button.textContent = text;
    button.setAttribute("aria-label", label);
    Object.keys(data).forEach(function (key) { button.dataset[key] = data[key]; });
    return button;
  }
  function syncReferences() {
    var input = referenceInput();
    if (!input) { return; }
    var transfer = new DataTransfer();
    references.forEach(function (file) { transfer.items.add(file); });
    input.files = transfer.files;
    var list = $("#compose [data-ref-list]");
    $$("li:not([data-inherited])", list).forEach(function (item) { item.remove(); });
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
        row.appendChild(referenceButton(interpolate(spec[1], { name: file.name }, true), spec[0], { refIndex: index, refMove: spec[2] }));
      });
      item.appendChild(img);
      item.appendChild(row);
      list.appendChild(item);
    });
    referenceUrls().forEach(function (url, index) {
      var item = document.createElement("li");
      item.dataset.refUrl = index;
      var text = document.createElement("span");
      text.className = "ref-url";
      text.textContent = url;
      text.title = url;
      var row = document.createElement("div");
      row.className = "row";
      row.appendChild(referenceButton(interpolate(gettext("Remove: %(name)s"), { name: url }, true), "×", { refUrlDrop: index }));
      item.appendChild(text);
      item.appendChild(row);
      list.appendChild(item);
    });
    var count = $("#compose [data-ref-count]");
    var max = mostReferences();
    if (count) { count.textContent = interpolate(ngettext("%(count)s of %(max)s reference", "%(count)s of %(max)s references", max), { count: referencesCounted(), max: max }, true); }
    var note = $("#compose [data-remix-note]");
    if (note && !$("#compose [data-inherited=remix]")) { note.remove(); }
  }
  function imageKind(bytes) {
    var b = new Uint8Array(bytes);
    if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) { return "png"; }
    if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) { return "jpeg"; }
    if (b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50) { return "webp"; }
    return null;
  }
  function imagePixels(file, kind, head) {
    if (kind === "png") {  // the header says it, without decoding 100 MB of pixels
      var view = new DataView(head);
      return Promise.resolve(view.getUint32(16) * view.getUint32(20));
    }
    return new Promise(function (resolve, reject) {
      var img = new Image();
      var src = URL.createObjectURL(file);
      img.onload = function () { URL.revokeObjectURL(src); resolve(img.naturalWidth * img.naturalHeight); };
      img.onerror = function () { URL.revokeObjectURL(src); reject(new Error("undecodable")); };
      img.src = src;
    });
  }
  // Why a file cannot be a reference (the server's rule, checked here first), or null.
  function referenceRefusal(file) {
    var zone = referenceZone();
    var maxBytes = parseInt(zone.dataset.maxBytes, 10), maxPixels = parseInt(zone.dataset.maxPixels, 10);
    var name = { name: file.name };
    if (file.size > maxBytes) {
      return Promise.resolve(interpolate(gettext("“%(name)s” is larger than %(limit)s MB."), { name: file.name, limit: Math.floor(maxBytes / 1048576) }, true));
    }
    return file.slice(0, 24).arrayBuffer().then(function (head) {
      var kind = imageKind(head);
      if (!kind) { return interpolate(gettext("“%(name)s” is not a PNG, JPEG or WebP image."), name, true); }
      return imagePixels(file, kind, head).then(function (pixels) {
        if (pixels > maxPixels) {
          return interpolate(gettext("“%(name)s” is too large (more than %(pixels)s pixels)."), { name: file.name, pixels: maxPixels.toLocaleString() }, true);
        }
        return null;
      }, function () { return interpolate(gettext("“%(name)s” is damaged or incomplete."), name, true); });
    });
  }
  function sameFile(a, b) {
    return (a.sourceUrl && a.sourceUrl === b.sourceUrl) || (!a.sourceUrl && a.name === b.name && a.size === b.size && a.lastModified === b.lastModified);
  }
  var pendingChecks = Promise.resolve();
  function addReferences(files) {
    files = Array.prototype.slice.call(files);
    // One batch after another, in the order they came, so the count is always true.
    pendingChecks = pendingChecks.then(function () {
      return Promise.all(files.map(referenceRefusal));
    }).then(function (refusals) {
      var messages = [];
      files.forEach(function (file, index) {
        if (refusals[index]) { messages.push(refusals[index]); return; }
        if (references.some(function (known) { return sameFile(known, file); })) {
          messages.push(interpolate(gettext("“%(name)s” is already a reference."), { name: file.sourceName || file.name }, true));
          return;
        }
        if (references.length >= maxReferences()) {
          messages.push(tooManyReferences());
          return;
        }
        references.push(file);
      });
      referenceError(messages.join(" "));
      if (messages.length) { announce(messages.join(" ")); }
      syncReferences();
      return messages.length === 0;
    });
    return pendingChecks;
  }
  function addReferenceFromUrl(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) { throw new Error(response.status); }
      return response.blob();
    }).then(function (blob) {
      var extension = (blob.type.split("/")[1] || "png").replace("jpeg", "jpg");
      var file = new File([blob], "reference-" + Date.now() + "." + extension, { type: blob.type });
      file.sourceUrl = url;  // the same image picked twice is the same reference
      file.sourceName = gettext("This image");
      return addReferences([file]);
    }).then(function (added) {
      if (added) { announce(gettext("Added as a reference.")); }
      var prompt = $("#id_prompt");
      if (prompt) { prompt.scrollIntoView({ block: "center" }); }
    }).catch(function () { announce(gettext("That image could not be added.")); });
  }
  on("change", function (event) {
    if (event.target === referenceInput()) {
      // Files chosen with the picker join those already there (not replace them).
      var picked = Array.prototype.slice.call(event.target.files).filter(function (f) { return references.indexOf(f) < 0; });
      syncReferences();
      addReferences(picked);
    }
  });
  on("input", function (event) {
    if (event.target.id === "id_reference_urls") {
      syncReferences();
      describeChoices();
      // A URL beyond the limit: said at once (the server refuses it too).
      var over = referencesCounted() > mostReferences();
      referenceError(over ? tooManyReferences() : "");
      if (over) { announce(tooManyReferences()); }
    }
  });
  on("click", function (event) {
    var move = event.target.closest("[data-ref-move]");
    if (move) {
      var index = parseInt(move.dataset.refIndex, 10), step = parseInt(move.dataset.refMove, 10);
      var file = references.splice(index, 1)[0];
      if (step !== 0) { references.splice(index + step, 0, file); }
      syncReferences();
      referenceError("");
      var buttons = $$("#compose [data-ref-list] li:not([data-inherited]) button");
      focusSomewhere(buttons[Math.min(index * 2, buttons.length - 1)] || referenceInput());
      return;
    }
    var drop = event.target.closest("[data-ref-drop]");
    if (drop) {
      // A reference from the remixed image (the server leaves it out) or the chosen image.
      var item = drop.closest("[data-inherited]");
      var form = compose();
      if (item.dataset.inherited === "remix") {
        var dropped = document.createElement("input");
        dropped.type = "hidden";
        dropped.name = "remix_drop";
        dropped.value = item.dataset.position;
        form.appendChild(dropped);
      } else {
        ["reference_from", "reference_position"].forEach(function (name) { if (form.elements[name]) { form.elements[name].value = ""; } });
      }
      item.remove();
      syncReferences();
      referenceError("");
      focusSomewhere(referenceInput());
      return;
    }
    var urlDrop = event.target.closest("[data-ref-url-drop]");
    if (urlDrop) {
      var urls = referenceUrls();
      urls.splice(parseInt(urlDrop.dataset.refUrlDrop, 10), 1);
      $("#id_reference_urls").value = urls.join("\n");
      saveDraft();
      syncReferences();
      focusSomewhere(referenceInput());
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
  // The library picker (below) asks before it adds an asset, and says when its chips change.
  on("banana:reference-adding", function (event) {
    // One of the applied preset's assets picked as well is still one reference.
    var asset = event.detail && event.detail.libraryAsset;
    if (asset && presetReferences().indexOf(asset) >= 0) { return; }
    if (referencesCounted() >= mostReferences()) {
      event.preventDefault();
      referenceError(tooManyReferences());
      announce(tooManyReferences());
    }
  });
  on("banana:references-changed", function () { syncReferences(); referenceError(""); });
  // A preset applied: its assets are counted; beyond the limit is said at once (the server
  // refuses the submit too).
  on("banana:preset", function () {
    syncReferences();
    var over = referencesCounted() > mostReferences();
    referenceError(over ? tooManyReferences() : "");
    if (over) { announce(tooManyReferences()); }
  }, true);  // dispatched on the body, not bubbling: heard on its way down
  // A remix replaces the form: its references start anew (a submit keeps the form).
  var formOfReferences = null;
  on("htmx:afterSwap", function (event) {
    if (formOfReferences && compose() !== formOfReferences) {
      references = [];
      referenceError("");
    }
    formOfReferences = compose();
    if ($("#compose")) { applyModelChoices(); syncReferences(); restoreSettingsOpen(); }
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

  // --- Density of the card grid: comfortable or compact, remembered in this browser ------
  function applyDensity() {
    var density = localStorage.getItem("banana-density") === "compact" ? "compact" : "comfortable";
    document.documentElement.dataset.grid = density;
    $$("[data-density]").forEach(function (button) {
      button.setAttribute("aria-pressed", button.dataset.density === density ? "true" : "false");
    });
  }
  on("click", function (event) {
    var choice = event.target.closest("[data-density]");
    if (!choice) { return; }
    try { localStorage.setItem("banana-density", choice.dataset.density); } catch (e) { /* off */ }
    applyDensity();
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
    showShotActions(shot);
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
  // The card's actions on the image shown: remix, vary, use as reference, favourite, delete.
  function showShotActions(shot) {
    var set = function (id, attribute, value) {
      var element = $(id);
      if (!element) { return; }
      element.hidden = !value;
      if (value) { element.setAttribute(attribute, value); }
    };
    set("#lightbox-remix", "href", shot.dataset.remix);
    set("#lightbox-use", "href", shot.dataset.use);
    set("#lightbox-vary", "formaction", shot.dataset.vary);
    set("#lightbox-favourite", "formaction", shot.dataset.favourite);
    set("#lightbox-delete", "formaction", shot.dataset.delete);
    var favourite = $("#lightbox-favourite");
    if (favourite) { favourite.toggleAttribute("data-favoured", shot.hasAttribute("data-favoured")); }
    showShotEdit(shot);
  }
  // Edit in the lightbox (issue 20): the follow-up prompt's form of the image shown, loaded
  // below the actions (components/edit_form.html); a submit opens the new version's page.
  function showShotEdit(shot) {
    var edit = $("#lightbox-edit"), slot = $("#lightbox-edit-slot");
    if (!edit || !slot) { return; }
    edit.hidden = !shot.dataset.edit;
    edit.dataset.url = shot.dataset.edit || "";
    edit.setAttribute("aria-expanded", "false");
    slot.textContent = "";
  }
  on("click", function (event) {
    var edit = event.target.closest && event.target.closest("#lightbox-edit");
    if (!edit || !edit.dataset.url) { return; }
    var slot = $("#lightbox-edit-slot");
    if (edit.getAttribute("aria-expanded") === "true") {
      slot.textContent = "";
      edit.setAttribute("aria-expanded", "false");
      return;
    }
    htmx.ajax("GET", edit.dataset.url, { target: slot, swap: "innerHTML" }).then(function () {
      edit.setAttribute("aria-expanded", "true");
      var box = $("textarea", slot);
      if (box) { box.focus(); }
    });
  });
  // A swipe sideways on a phone moves to the next or previous image.
  var swipeFrom = null;
  on("touchstart", function (event) {
    if (event.target.closest && event.target.closest("#lightbox") && event.touches.length === 1) {
      swipeFrom = { x: event.touches[0].clientX, y: event.touches[0].clientY };
    }
  }, { passive: true });
  on("touchend", function (event) {
    if (!swipeFrom || !event.changedTouches.length) { return; }
    var dx = event.changedTouches[0].clientX - swipeFrom.x, dy = event.changedTouches[0].clientY - swipeFrom.y;
    swipeFrom = null;
    if (Math.abs(dx) > 50 && Math.abs(dx) > 2 * Math.abs(dy)) { showShot(shown + (dx < 0 ? 1 : -1)); }
  }, { passive: true });
  on("keydown", function (event) {
    var box = $("#lightbox");
    if (!box || !box.open) { return; }
    // Arrows in the edit form's prompt move its caret, not to another image.
    if (event.target.closest && event.target.closest("textarea, input, select")) { return; }
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
    // Arrows in the edit form's prompt move its caret, not to another image.
    if (event.target.closest && event.target.closest("textarea, input, select")) { return; }
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
    syncReferences();
    restoreSettingsOpen();
    formOfReferences = compose();
    applyDensity();
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

  function referencesChanged() { document.dispatchEvent(new CustomEvent("banana:references-changed")); }

  function addLibraryAsset(button) {
    var list = libraryList();
    if (!list || $("input[value='" + button.dataset.addLibraryAsset + "']", list)) { return; }
    // The composer counts every reference and refuses one beyond the limit, saying why.
    if (!document.dispatchEvent(new CustomEvent("banana:reference-adding", { cancelable: true, detail: { libraryAsset: button.dataset.addLibraryAsset } }))) { return; }
    var item = document.createElement("li");
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "library_asset";
    input.value = button.dataset.addLibraryAsset;
    var img = document.createElement("img");
    img.src = button.dataset.thumb;
    img.alt = button.dataset.name;
    img.width = img.height = 72;
    var row = document.createElement("div");
    row.className = "row";
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary small";
    remove.textContent = "×";
    remove.setAttribute("aria-label", interpolate(gettext("Remove: %(name)s"), { name: button.dataset.name }, true));
    remove.dataset.removeLibraryAsset = "";
    row.append(remove);
    item.append(input, img, row);
    list.append(item);
    referencesChanged();
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
      referencesChanged();
      var opener = $("#compose [data-open-library]");
      if (opener) { opener.focus(); }
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
  // A submit keeps the chosen assets, as it keeps every other reference of the composer:
  // the next job starts from what was counted and sent (each is removable).
})();
