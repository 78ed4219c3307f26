/* Approval process designer: entry criteria, ordered steps (approver, mode, quorum), field updates
   on approval and rejection, and a mermaid diagram of the flow. */
(function () {
  "use strict";
  const CRM = window.CRM || (window.CRM = {});
  const el = (...args) => CRM.el(...args);
  const quote = (t) => '"' + String(t).replace(/"/g, "#quot;").slice(0, 80) + '"';

  function options(select, list, value, blank) {
    select.innerHTML = "";
    if (blank) { select.add(new Option("—", "")); }
    list.forEach((o) => select.add(new Option(o.label, o.name, false, String(o.name) === String(value))));
  }

  CRM.processDesigner = function (form, opts) {
    const doc = opts.document, ctx = opts.context, text = opts.text;
    const objectSelect = form.querySelector("[data-process-object]");
    if (opts.isNew) { objectSelect.addEventListener("change", () => { window.location = opts.newUrl + "?object=" + encodeURIComponent(objectSelect.value); }); }
    const builder = CRM.buildQuery(document.getElementById("crm-process-condition"), opts.filters,
                                   typeof doc.entry_condition === "object" ? doc.entry_condition : null);
    builder.on("rulesChanged.queryBuilder", () => draw());
    const stepsBox = form.querySelector("[data-steps]");

    const addStep = function (step) {
      const approver = Array.isArray(step.approvers) ? step.approvers[0] : (step.approvers || {type: "user"});
      const type = el("select", {class: "form-select form-select-sm", "data-key": "type", "aria-label": text.approver});
      Object.entries(text.types).forEach(([k, v]) => type.add(new Option(v, k, false, k === approver.type)));
      const value = el("select", {class: "form-select form-select-sm", "data-key": "value", "aria-label": text.value});
      const mode = el("select", {class: "form-select form-select-sm", "data-key": "mode", "aria-label": text.mode});
      Object.entries(text.modes).forEach(([k, v]) => mode.add(new Option(v, k, false, k === (step.mode || "any"))));
      const quorum = el("input", {class: "form-control form-control-sm", type: "number", min: "1", "data-key": "quorum", "aria-label": text.quorum, value: step.quorum ? String(step.quorum) : ""});
      const fill = function () {
        const kind = type.value;
        value.disabled = kind === "manager";
        options(value, kind === "user" ? ctx.users : kind === "role" ? ctx.roles : kind === "field" ? ctx.user_fields : [], approver.value, true);
      };
      type.addEventListener("change", () => { approver.value = null; fill(); draw(); });
      fill();
      const quorumBox = el("div", {class: "col-4 col-md-2"}, [quorum]);
      const showQuorum = () => { quorumBox.classList.toggle("d-none", mode.value !== "quorum"); };
      mode.addEventListener("change", showQuorum);
      showQuorum();
      const card = el("div", {class: "card crm-action-card", "data-step": ""}, [el("div", {class: "card-body p-2 vstack gap-2"}, [
        el("div", {class: "d-flex gap-2 align-items-center"}, [
          el("span", {class: "badge text-bg-light border crm-drag", "data-step-index": ""}),
          el("input", {class: "form-control form-control-sm", "data-key": "name", placeholder: text.name, "aria-label": text.name, value: step.name || ""}),
          el("button", {class: "btn btn-sm btn-outline-danger", type: "button", "data-remove": "", "aria-label": text.remove}, [el("i", {class: "bi bi-x-lg"})]),
        ]),
        el("div", {class: "row g-2"}, [
          el("div", {class: "col-6 col-md-4"}, [type]), el("div", {class: "col-6 col-md-3"}, [value]),
          el("div", {class: "col-8 col-md-3"}, [mode]), quorumBox,
        ]),
      ])]);
      stepsBox.append(card);
      renumber();
      return card;
    };
    const renumber = () => stepsBox.querySelectorAll("[data-step-index]").forEach((b, i) => { b.textContent = text.step + " " + (i + 1); });
    (doc.steps || []).forEach(addStep);
    form.querySelector("[data-add-step]").addEventListener("click", () => { addStep({}).querySelector('[data-key="name"]').focus(); draw(); });
    new Sortable(stepsBox, {forceFallback: true, fallbackOnBody: true, handle: "[data-step-index]", animation: 150, onEnd: () => { renumber(); draw(); }});

    const addOutcome = function (box, action) {
      const field = el("select", {class: "form-select form-select-sm", "data-key": "field", "aria-label": text.field});
      options(field, ctx.fields, action.field, true);
      const row = el("div", {class: "d-flex gap-2", "data-outcome-row": ""}, [el("span", {class: "small align-self-center", text: text.set}), field,
        el("input", {class: "form-control form-control-sm", "data-key": "value", "aria-label": text.value, placeholder: text.value, value: action.value === undefined ? "" : String(action.value)}),
        el("button", {class: "btn btn-sm btn-outline-danger", type: "button", "data-remove": "", "aria-label": text.remove}, [el("i", {class: "bi bi-x-lg"})])]);
      box.append(row);
    };
    ["on_approve", "on_reject"].forEach(function (key) {
      const box = form.querySelector('[data-outcome="' + key + '"]');
      (doc[key] || []).filter((a) => a.type === "set_field").forEach((a) => addOutcome(box, a));
      form.querySelector('[data-add-outcome="' + key + '"]').addEventListener("click", () => addOutcome(box, {}));
    });
    form.addEventListener("click", (e) => { const b = e.target.closest("[data-remove]"); if (b) { (b.closest("[data-step]") || b.closest("[data-outcome-row]")).remove(); renumber(); draw(); } });
    form.addEventListener("input", () => draw());
    form.addEventListener("change", () => draw());

    const read = function () {
      const steps = Array.from(stepsBox.querySelectorAll("[data-step]")).map(function (card) {
        const get = (k) => card.querySelector('[data-key="' + k + '"]');
        const approver = {type: get("type").value};
        if (approver.type !== "manager") { approver.value = get("value").value || null; }
        const step = {name: get("name").value.trim(), approvers: approver, mode: get("mode").value};
        if (step.mode === "quorum" && get("quorum").value) { step.quorum = Number(get("quorum").value); }
        return step;
      });
      const outcome = (key) => Array.from(form.querySelectorAll('[data-outcome="' + key + '"] [data-outcome-row]')).map((row) => ({
        type: "set_field", field: row.querySelector('[data-key="field"]').value, value: row.querySelector('[data-key="value"]').value,
      })).filter((a) => a.field);
      let tree = null;
      try { tree = builder.get(); } catch (e) { tree = null; }
      return {name: form.querySelector("[data-process-name]").value.trim(), object: objectSelect.value,
              active: form.querySelector("[data-process-active]").checked, entry_condition: tree, steps: steps,
              on_approve: outcome("on_approve"), on_reject: outcome("on_reject")};
    };

    const diagram = form.querySelector("[data-diagram]");
    let ticket = 0;
    mermaid.initialize({startOnLoad: false, securityLevel: "strict", theme: "neutral", flowchart: {htmlLabels: false}});
    function draw() {
      const p = read();
      const lines = ["flowchart TD", "  S([" + quote(text.submit) + "])"];
      let last = "S";
      if (p.entry_condition) {
        const labels = Object.fromEntries(opts.filters.map((f) => [f.id, f.label]));
        lines.push("  E{" + quote(text.entry + ": " + CRM.conditionText(p.entry_condition, labels)) + "}", "  S --> E"); last = "E";
      }
      p.steps.forEach(function (step, i) {
        lines.push("  P" + i + "[" + quote((i + 1) + ". " + (step.name || text.step) + " · " + (text.types[step.approvers.type] || "") + (step.approvers.value ? ": " + step.approvers.value : "")) + "]");
        lines.push("  " + last + " --> P" + i, "  P" + i + " -- " + quote(text.rejected) + " --> R");
        last = "P" + i;
      });
      const setText = (list) => list.map((a) => a.field + " = " + a.value).join(", ");
      lines.push("  A([" + quote(text.approved + (p.on_approve.length ? ": " + setText(p.on_approve) : "")) + "])", "  " + last + " --> A");
      lines.push("  R([" + quote(text.rejected + (p.on_reject.length ? ": " + setText(p.on_reject) : "")) + "])");
      const source = lines.join("\n");
      form.querySelector("[data-diagram-source]").textContent = source;
      const mine = ++ticket;
      mermaid.render("crm-process-diagram-" + mine, source).then((r) => { if (mine === ticket) { diagram.innerHTML = r.svg; } }).catch(() => {});
    }
    draw();
    form.addEventListener("submit", () => { form.querySelector("[data-process-json]").value = JSON.stringify(read()); });
  };
})();
