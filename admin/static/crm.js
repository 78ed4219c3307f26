/* CRM UI behaviour shared by every page: toasts, confirmations, record forms (lookups that search
   as you type, dependent picklists), bulk selection, the kanban board. No framework, no build. */
(function () {
  "use strict";
  const CRM = window.CRM || (window.CRM = {});
  const t = (key) => (CRM.i18n && CRM.i18n[key]) || key;

  CRM.post = function (url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": CRM.csrf},
      body: JSON.stringify(body || {}),
    }).then((response) => response.json().catch(() => ({})).then((data) => ({ok: response.ok, status: response.status, data})));
  };

  CRM.toast = function (message, kind) {
    const box = document.getElementById("crm-toasts");
    if (!box) { return; }
    const el = document.createElement("div");
    el.className = "toast align-items-center border-0 text-bg-" + (kind || "dark");
    el.setAttribute("role", kind === "danger" ? "alert" : "status");
    const flex = document.createElement("div");
    flex.className = "d-flex";
    const body = document.createElement("div");
    body.className = "toast-body";
    body.textContent = message;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close btn-close-white me-2 m-auto";
    close.setAttribute("data-bs-dismiss", "toast");
    flex.append(body, close);
    el.append(flex);
    box.append(el);
    new bootstrap.Toast(el, {delay: 6000}).show();
    el.addEventListener("hidden.bs.toast", () => el.remove());
  };

  // Buttons with data-confirm ask first.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  CRM.lookup = function (select) {
    const target = select.getAttribute("data-lookup");
    const base = document.body.getAttribute("data-records-url") || "/admin/records/";
    return new TomSelect(select, {
      valueField: "id", labelField: "text", searchField: ["text"], maxOptions: 20, loadThrottle: 200,
      allowEmptyOption: true, placeholder: t("typeToSearch"),
      load: function (query, callback) {
        fetch(base + encodeURIComponent(target) + "/lookup?q=" + encodeURIComponent(query),
              {credentials: "same-origin", headers: {"Accept": "application/json"}})
          .then((r) => r.json()).then((data) => callback((data.results || []).map((r) => ({id: String(r.id), text: r.text}))))
          .catch(() => callback());
      },
      shouldLoad: () => true,
      preload: "focus",
      render: {no_results: () => '<div class="no-results">' + t("noResults") + "</div>"},
    });
  };

  /* A small rich-text editor over the textarea (bold, italic, lists, link); the server sanitizes
     whatever arrives (nh3), so the textarea stays the source of truth. */
  CRM.richText = function (textarea) {
    const tools = [["bold", "type-bold"], ["italic", "type-italic"], ["insertUnorderedList", "list-ul"],
                   ["insertOrderedList", "list-ol"], ["createLink", "link-45deg"], ["removeFormat", "eraser"]];
    const bar = document.createElement("div");
    bar.className = "btn-group btn-group-sm mb-1 crm-rich-bar";
    const editor = document.createElement("div");
    editor.className = "form-control crm-rich" + (textarea.classList.contains("is-invalid") ? " is-invalid" : "");
    editor.contentEditable = "true";
    editor.setAttribute("role", "textbox");
    editor.setAttribute("aria-multiline", "true");
    editor.setAttribute("aria-label", (textarea.labels[0] || {}).textContent || "");
    editor.innerHTML = textarea.value;
    tools.forEach(function ([command, icon]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-outline-secondary";
      button.setAttribute("aria-label", command);
      button.innerHTML = '<i class="bi bi-' + icon + '"></i>';
      button.addEventListener("click", function () {
        editor.focus();
        if (command === "createLink") {
          const url = window.prompt("https://");
          if (url && /^https?:\/\//.test(url)) { document.execCommand(command, false, url); }
        } else {
          document.execCommand(command, false, null);
        }
        textarea.value = editor.innerHTML;
      });
      bar.append(button);
    });
    editor.addEventListener("input", () => { textarea.value = editor.innerHTML; });
    textarea.classList.add("d-none");
    textarea.before(bar, editor);
  };

  CRM.initRecordForm = function (form) {
    if (!form) { return; }
    form.querySelectorAll("select[data-lookup]").forEach(CRM.lookup);
    form.querySelectorAll("select[data-tom-select]").forEach(function (select) {
      new TomSelect(select, {plugins: select.multiple ? ["remove_button"] : [], allowEmptyOption: true,
                             render: {no_results: () => '<div class="no-results">' + t("noResults") + "</div>"}});
    });
    // Dependent picklists: keep only the options the controlling value allows.
    form.querySelectorAll("select[data-depends-on]").forEach(function (select) {
      const controller = form.querySelector('[name="' + select.getAttribute("data-depends-on") + '"]');
      const allowed = JSON.parse(select.getAttribute("data-allowed") || "null");
      if (!controller || !allowed) { return; }
      const all = Array.from(select.options).map((o) => [o.value, o.text]);
      const apply = function () {
        const keep = allowed[controller.value] || [];
        const current = select.value;
        select.innerHTML = "";
        all.filter(([v]) => v === "" || keep.includes(v)).forEach(([v, text]) => select.add(new Option(text, v, false, v === current)));
      };
      controller.addEventListener("change", apply);
      apply();
    });
    form.querySelectorAll("textarea[data-rich-text]").forEach(CRM.richText);
    const firstError = form.querySelector(".is-invalid");
    if (firstError) { firstError.focus({preventScroll: false}); }
  };

  CRM.initBulk = function () {
    const form = document.getElementById("crm-bulk");
    if (!form) { return; }
    const bar = form.querySelector("[data-bulkbar]");
    const all = form.querySelector("[data-select-all]");
    const boxes = () => Array.from(form.querySelectorAll('input[name="ids"]'));
    const refresh = function () {
      const count = boxes().filter((b) => b.checked).length;
      if (bar) {
        bar.classList.toggle("d-none", count === 0);
        bar.querySelector("[data-selected-count]").textContent = count + " " + t("selected");
      }
    };
    if (all) {
      all.addEventListener("change", () => { boxes().forEach((b) => { b.checked = all.checked; }); refresh(); });
    }
    form.addEventListener("change", refresh);
    refresh();
    // The value picker follows the chosen field's type; only the shown one is submitted.
    const chooser = form.querySelector("[data-bulk-field]");
    const pickers = Array.from(form.querySelectorAll("[data-bulk-input]"));
    pickers.forEach(function (picker) {
      picker.querySelectorAll("select[data-lookup]").forEach(function (select) {
        const control = CRM.lookup(select);
        if (select.disabled) { control.disable(); }
      });
    });
    const choose = function () {
      pickers.forEach(function (picker) {
        const on = chooser && picker.getAttribute("data-bulk-input") === chooser.value;
        picker.classList.toggle("d-none", !on);
        picker.querySelectorAll("input, select").forEach(function (control) {
          if (control.tomselect) { if (on) { control.tomselect.enable(); } else { control.tomselect.disable(); } }
          else if (control.name === "value") { control.disabled = !on; }
        });
      });
    };
    if (chooser) { chooser.addEventListener("change", choose); choose(); }
  };

  CRM.initBoard = function (board) {
    if (!board || board.getAttribute("data-can-update") !== "true") { return; }
    const moveUrl = (id) => board.getAttribute("data-move-url").replace("/0/stage/", "/" + id + "/stage/");
    const recount = function () {
      board.querySelectorAll(".crm-board-col").forEach(function (col) {
        const count = col.querySelector("[data-count]");
        const delta = Number(col.getAttribute("data-delta") || 0);
        if (count && delta) {
          count.textContent = String(Number(count.textContent) + delta);
          col.setAttribute("data-delta", "0");
        }
      });
    };
    // A moved card's money values leave one column's totals and join the other's.
    const money = new Intl.NumberFormat(document.documentElement.lang || undefined,
                                        {minimumFractionDigits: 2, maximumFractionDigits: 2});
    const moveSums = function (card, fromCol, toCol) {
      const values = JSON.parse(card.getAttribute("data-sums") || "{}");
      Object.keys(values).forEach(function (name) {
        [[fromCol, -1], [toCol, 1]].forEach(function (pair) {
          const total = pair[0].querySelector('[data-total="' + name + '"]');
          if (!total) { return; }
          const raw = Number(total.getAttribute("data-raw") || 0) + pair[1] * Number(values[name] || 0);
          total.setAttribute("data-raw", String(raw));
          total.querySelector("[data-total-value]").textContent = money.format(raw);
        });
      });
    };
    board.querySelectorAll("[data-cards]").forEach(function (list) {
      new Sortable(list, {forceFallback: true, fallbackOnBody: true, 
        group: "board", animation: 150, ghostClass: "sortable-ghost", delay: 150, delayOnTouchOnly: true,
        onEnd: function (event) {
          if (event.from === event.to) { return; }
          const card = event.item;
          const fromCol = event.from.closest(".crm-board-col");
          const toCol = event.to.closest(".crm-board-col");
          const stage = toCol.getAttribute("data-stage");
          CRM.post(moveUrl(card.getAttribute("data-id")), {stage: stage, version: Number(card.getAttribute("data-version"))})
            .then(function (result) {
              if (result.ok) {
                card.setAttribute("data-version", result.data.version);
                fromCol.setAttribute("data-delta", "-1");
                toCol.setAttribute("data-delta", "1");
                recount();
                moveSums(card, fromCol, toCol);
                CRM.toast(t("saved"), "success");
                return;
              }
              // Refused: put the card back and say which fields the stage needs.
              const before = event.from.children[event.oldIndex] || null;
              event.from.insertBefore(card, before);
              card.classList.add("crm-refused");
              setTimeout(() => card.classList.remove("crm-refused"), 600);
              const error = (result.data && result.data.error) || {};
              const missing = error.missing || [];
              const text = missing.length ? t("moveRefused") + " — " + t("fillIn") + " " + missing.join(", ")
                                          : (error.message || t("error"));
              board.setAttribute("data-last-error", text);
              CRM.toast(text, "danger");
            });
        },
      });
    });
  };
})();
