/* Rule builder: trigger editor, QueryBuilder condition, ordered action cards, a live mermaid
   diagram; serializes the rule document (the API's shape) into a hidden input on submit. */
(function () {
  "use strict";
  const CRM = window.CRM || (window.CRM = {});
  const el = (...args) => CRM.el(...args);

  // Inputs each action type takes: [key, kind]; kinds: field, text, textarea, json, object, lookup, strategy, list.
  const ACTION_INPUTS = {
    set_field: [["field", "field"], ["value", "text"], ["formula", "text"]],
    create_record: [["object", "object"], ["values", "json"]],
    update_related: [["lookup", "lookup"], ["values", "json"]],
    assign_owner: [["strategy", "strategy"], ["team", "text"], ["users", "list"], ["user", "text"]],
    add_tag: [["tag", "text"]], remove_tag: [["tag", "text"]],
    notify: [["to", "text"], ["title", "text"], ["body", "textarea"]],
    send_email: [["to", "text"], ["subject", "text"], ["body", "textarea"]],
    webhook: [["url", "text"], ["secret", "text"]],
    submit_approval: [["process", "text"], ["comment", "text"]],
  };

  function select(options, value, attrs) {
    const node = el("select", Object.assign({class: "form-select form-select-sm"}, attrs || {}));
    node.add(new Option("—", ""));
    options.forEach((o) => node.add(new Option(o.label, o.name, false, o.name === value)));
    return node;
  }

  function quote(text) {
    return '"' + String(text).replace(/"/g, "#quot;").replace(/[\n\r]+/g, " ").slice(0, 80) + '"';
  }

  CRM.ruleBuilder = function (form, options) {
    const doc = options.document;
    const ctx = options.context;
    const text = options.text;
    const fieldLabels = Object.fromEntries(options.filters.map((f) => [f.id, f.label]));
    const objectSelect = form.querySelector("[data-rule-object]");
    if (options.isNew) {
      objectSelect.addEventListener("change", () => { window.location = options.newUrl + "?object=" + encodeURIComponent(objectSelect.value); });
    }

    // -- trigger -------------------------------------------------------------------------------
    const triggerBox = form.querySelector("[data-trigger]");
    const trigger = Object.assign({type: "on_create_or_update"}, doc.trigger || {});
    const typeSelect = el("select", {class: "form-select", "data-trigger-type": "", "aria-label": text.when});
    Object.entries(text.triggers).forEach(([k, v]) => typeSelect.add(new Option(v, k, false, k === trigger.type)));
    const details = el("div", {class: "row g-2 mt-1"});
    triggerBox.append(typeSelect, details);
    const renderDetails = function () {
      details.innerHTML = "";
      const type = typeSelect.value;
      if (type === "on_field_change") {
        const fields = el("select", {class: "form-select", multiple: "", "data-trigger-fields": "", "aria-label": text.field});
        ctx.fields.forEach((f) => fields.add(new Option(f.label, f.name, false, (trigger.fields || []).includes(f.name))));
        details.append(el("div", {class: "col-12"}, [fields]));
        new TomSelect(fields, {plugins: ["remove_button"], placeholder: text.field});
      } else if (type === "on_stage_change") {
        details.append(el("div", {class: "col-6"}, [el("label", {class: "form-label small", text: "from"}), select(ctx.stages, trigger.from, {"data-trigger-from": ""})]),
                       el("div", {class: "col-6"}, [el("label", {class: "form-label small", text: "to"}), select(ctx.stages, trigger.to, {"data-trigger-to": ""})]));
      } else if (type === "scheduled") {
        details.append(el("div", {class: "col-12"}, [el("input", {class: "form-control font-monospace", "data-trigger-cron": "", placeholder: "0 9 * * 1-5", value: trigger.cron || "", "aria-label": "cron"})]));
      } else if (type === "time_relative") {
        const offset = trigger.offset || {amount: 1, unit: "days"};
        const unit = el("select", {class: "form-select", "data-trigger-unit": "", "aria-label": "unit"});
        ["minutes", "hours", "days"].forEach((u) => unit.add(new Option(u, u, false, u === offset.unit)));
        const direction = el("select", {class: "form-select", "data-trigger-direction": "", "aria-label": "direction"});
        ["after", "before"].forEach((d) => direction.add(new Option(d, d, false, d === (trigger.direction || "after"))));
        details.append(el("div", {class: "col-4"}, [el("input", {class: "form-control", type: "number", min: "0", "data-trigger-amount": "", value: String(offset.amount), "aria-label": "amount"})]),
                       el("div", {class: "col-4"}, [unit]), el("div", {class: "col-4"}, [direction]),
                       el("div", {class: "col-12"}, [select(ctx.dates, trigger.field, {"data-trigger-field": "", "aria-label": text.field})]));
      }
      details.addEventListener("change", draw);
    };
    typeSelect.addEventListener("change", () => { renderDetails(); draw(); });
    renderDetails();

    const readTrigger = function () {
      const type = typeSelect.value;
      const result = {type: type};
      const q = (s) => form.querySelector(s);
      if (type === "on_field_change") { result.fields = Array.from(q("[data-trigger-fields]").selectedOptions).map((o) => o.value); }
      if (type === "on_stage_change") {
        if (q("[data-trigger-from]").value) { result.from = q("[data-trigger-from]").value; }
        if (q("[data-trigger-to]").value) { result.to = q("[data-trigger-to]").value; }
      }
      if (type === "scheduled") { result.cron = q("[data-trigger-cron]").value.trim(); }
      if (type === "time_relative") {
        result.offset = {amount: Number(q("[data-trigger-amount]").value || 0), unit: q("[data-trigger-unit]").value};
        result.direction = q("[data-trigger-direction]").value;
        result.field = q("[data-trigger-field]").value || null;
      }
      return result;
    };

    // -- condition -----------------------------------------------------------------------------
    const condition = typeof doc.condition === "object" ? doc.condition : null;
    const builder = CRM.buildQuery(document.getElementById("crm-rule-condition"), options.filters, condition, CRM.extraOperators);
    builder.on("rulesChanged.queryBuilder", () => draw());

    // -- actions -------------------------------------------------------------------------------
    const actionsBox = form.querySelector("[data-actions]");
    const addAction = function (action) {
      const card = el("div", {class: "card crm-action-card", "data-action": action.type});
      const body = el("div", {class: "card-body p-2 vstack gap-2"});
      const head = el("div", {class: "d-flex align-items-center gap-2"}, [
        el("span", {class: "badge text-bg-light border", "data-action-index": ""}),
        el("strong", {class: "me-auto", text: text.actions[action.type] || action.type}),
        el("button", {class: "btn btn-sm btn-outline-secondary", type: "button", "data-move": "-1", "aria-label": text.up}, [el("i", {class: "bi bi-arrow-up"})]),
        el("button", {class: "btn btn-sm btn-outline-secondary", type: "button", "data-move": "1", "aria-label": text.down}, [el("i", {class: "bi bi-arrow-down"})]),
        el("button", {class: "btn btn-sm btn-outline-danger", type: "button", "data-remove-action": "", "aria-label": text.remove}, [el("i", {class: "bi bi-x-lg"})]),
      ]);
      body.append(head);
      const row = el("div", {class: "row g-2"});
      (ACTION_INPUTS[action.type] || []).forEach(function ([key, kind]) {
        let input;
        const current = action[key];
        if (kind === "field") { input = select(ctx.fields, current); }
        else if (kind === "object") { input = select(ctx.objects, current); }
        else if (kind === "lookup") { input = select(ctx.lookups, current); }
        else if (kind === "strategy") { input = select(Object.entries(text.strategies).map(([n, l]) => ({name: n, label: l})), current); }
        else if (kind === "textarea") { input = el("textarea", {class: "form-control form-control-sm", rows: "2"}); input.value = current || ""; }
        else if (kind === "json") { input = el("textarea", {class: "form-control form-control-sm font-monospace", rows: "2", placeholder: '{"field": "value"}'}); input.value = current ? JSON.stringify(current) : ""; }
        else if (kind === "list") { input = el("input", {class: "form-control form-control-sm", value: (current || []).join(", ")}); }
        else { input = el("input", {class: "form-control form-control-sm", value: current === undefined || current === null ? "" : (typeof current === "string" ? current : JSON.stringify(current))}); }
        input.setAttribute("data-key", key);
        input.setAttribute("data-kind", kind);
        input.setAttribute("aria-label", text[key] || key);
        const wide = kind === "textarea" || kind === "json";
        row.append(el("div", {class: wide ? "col-12" : "col-12 col-sm-6"}, [el("label", {class: "form-label small mb-1", text: key === "formula" ? text.formula : (text[key] || key)}), input]));
      });
      body.append(row);
      card.append(body);
      actionsBox.append(card);
      renumber();
      return card;
    };
    const renumber = () => actionsBox.querySelectorAll("[data-action-index]").forEach((b, i) => { b.textContent = String(i + 1); });
    (doc.actions || []).forEach(addAction);
    form.querySelectorAll("[data-action-type]").forEach((b) => b.addEventListener("click", () => { addAction({type: b.getAttribute("data-action-type")}); draw(); }));
    actionsBox.addEventListener("click", function (event) {
      const card = event.target.closest("[data-action]");
      if (!card) { return; }
      if (event.target.closest("[data-remove-action]")) { card.remove(); }
      const move = event.target.closest("[data-move]");
      if (move) {
        if (move.getAttribute("data-move") === "-1" && card.previousElementSibling) { actionsBox.insertBefore(card, card.previousElementSibling); }
        if (move.getAttribute("data-move") === "1" && card.nextElementSibling) { actionsBox.insertBefore(card.nextElementSibling, card); }
      }
      renumber();
      draw();
    });
    actionsBox.addEventListener("input", () => draw());

    const readActions = function () {
      return Array.from(actionsBox.querySelectorAll("[data-action]")).map(function (card) {
        const action = {type: card.getAttribute("data-action")};
        card.querySelectorAll("[data-key]").forEach(function (input) {
          const key = input.getAttribute("data-key");
          const kind = input.getAttribute("data-kind");
          const raw = input.value.trim();
          if (raw === "") { return; }
          if (kind === "json") {
            try { action[key] = JSON.parse(raw); } catch (e) { throw new Error(text.invalidJson); }
          } else if (kind === "list") { action[key] = raw.split(",").map((s) => s.trim()).filter(Boolean); }
          else { action[key] = raw; }
        });
        return action;
      });
    };

    // -- diagram -------------------------------------------------------------------------------
    const diagram = form.querySelector("[data-diagram]");
    const sourceBox = form.querySelector("[data-diagram-source]");
    let drawing = 0;
    mermaid.initialize({startOnLoad: false, securityLevel: "strict", theme: "neutral", flowchart: {htmlLabels: false}});
    function draw() {
      let tree = null;
      try { tree = builder.get(); } catch (e) { tree = null; }
      let actions = [];
      try { actions = readActions(); } catch (e) { actions = []; }
      const trig = readTrigger();
      const lines = ["flowchart TD", "  T([" + quote(text.when + ": " + (text.triggers[trig.type] || trig.type)) + "])"];
      let last = "T";
      const cond = CRM.conditionText(tree, fieldLabels);
      if (cond) {
        lines.push("  C{" + quote(text.if + " " + cond) + "}", "  T --> C", "  N([" + quote(text.no) + "])", "  C -- " + quote(text.no.split(":")[0]) + " --> N");
        last = "C";
      }
      actions.forEach(function (action, index) {
        const detail = action.field ? " " + (fieldLabels[action.field] || action.field) + (action.value !== undefined ? " = " + action.value : "") : (action.tag || action.to || action.url || action.object || action.process || "");
        const id = "A" + index;
        lines.push("  " + id + "[" + quote((index + 1) + ". " + (text.actions[action.type] || action.type) + (detail ? ": " + detail : "")) + "]");
        lines.push("  " + last + (last === "C" ? " -- " + quote(text.yes) + " --> " : " --> ") + id);
        last = id;
      });
      const source = lines.join("\n");
      sourceBox.textContent = source;
      const ticket = ++drawing;
      mermaid.render("crm-rule-diagram-" + ticket, source).then(function (result) {
        if (ticket === drawing) { diagram.innerHTML = result.svg; }
      }).catch(function () { /* keep the previous drawing while the rule is incomplete */ });
    }
    CRM.drawRule = draw;
    form.querySelector("[data-rule-name]").addEventListener("input", draw);
    draw();

    form.addEventListener("submit", function (event) {
      if (event.submitter && event.submitter.getAttribute("form") === "crm-rule-delete") { return; }
      let actions;
      try { actions = readActions(); } catch (e) { event.preventDefault(); CRM.toast(e.message, "danger"); return; }
      const tree = builder.get();
      const result = {
        name: form.querySelector("[data-rule-name]").value.trim(), object: objectSelect.value,
        active: form.querySelector("[data-rule-active]").checked, trigger: readTrigger(),
        condition: tree, actions: actions,
      };
      form.querySelector("[data-rule-json]").value = JSON.stringify(result);
    });
  };
})();
