/* Designers: API names from labels, picklist values, formula and autonumber previews, the layout,
   list-column and pipeline designers (SortableJS). Each serializes to a hidden JSON input that the
   server validates like an API call. */
(function () {
  "use strict";
  const CRM = window.CRM || (window.CRM = {});

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "text") { node.textContent = v; } else if (k === "class") { node.className = v; } else { node.setAttribute(k, v); }
    });
    (children || []).forEach((c) => node.append(c));
    return node;
  }
  CRM.el = el;

  CRM.slugify = function (text) {
    let name = (text || "").toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
    if (name && !/^[a-z]/.test(name)) { name = "x_" + name; }
    return name.slice(0, 50);
  };

  CRM.slugInputs = function (enabled) {
    if (enabled === false) { return; }
    document.querySelectorAll("[data-slug-from]").forEach(function (input) {
      const source = document.getElementById(input.getAttribute("data-slug-from"));
      if (!source) { return; }
      let touched = input.value !== "";
      input.addEventListener("input", () => { touched = true; });
      source.addEventListener("input", () => { if (!touched) { input.value = CRM.slugify(source.value); } });
    });
  };

  CRM.fieldDesigner = function (form, options) {
    if (!form) { return; }
    const typeSelect = form.querySelector("#type");
    if (typeSelect && !options.fieldName) {
      typeSelect.addEventListener("change", () => { window.location.search = "?type=" + encodeURIComponent(typeSelect.value); });
    }
    // Picklist values: rows of value / English label / Chinese label, reordered by dragging.
    const list = form.querySelector("[data-options-list]");
    const hidden = form.querySelector("[data-options-json]");
    if (list && hidden) {
      const addRow = function (option) {
        const labelOf = option.label || {};
        const en = typeof labelOf === "string" ? labelOf : (labelOf.en || "");
        const zh = typeof labelOf === "string" ? "" : (labelOf.zh || "");
        const row = el("div", {class: "d-flex gap-2 align-items-center crm-option", "data-option": ""}, [
          el("i", {class: "bi bi-grip-vertical crm-drag", "aria-hidden": "true"}),
          el("input", {class: "form-control form-control-sm font-monospace", "data-key": "value", "aria-label": options.text.value, value: option.value || ""}),
          el("input", {class: "form-control form-control-sm", "data-key": "en", "aria-label": "EN", value: en}),
          el("input", {class: "form-control form-control-sm", "data-key": "zh", "aria-label": "中文", lang: "zh", value: zh}),
          el("button", {class: "btn btn-sm btn-outline-secondary", type: "button", "aria-label": options.text.remove, "data-remove": ""},
             [el("i", {class: "bi bi-x-lg"})]),
        ]);
        list.append(row);
        return row;
      };
      JSON.parse(hidden.value || "[]").forEach(addRow);
      if (!list.children.length) { addRow({}); }
      list.addEventListener("click", (e) => { const b = e.target.closest("[data-remove]"); if (b) { b.closest("[data-option]").remove(); } });
      form.querySelector("[data-add-option]").addEventListener("click", () => addRow({}).querySelector("input").focus());
      new Sortable(list, {forceFallback: true, fallbackOnBody: true, handle: ".crm-drag", animation: 150});
      form.addEventListener("submit", function () {
        const values = Array.from(list.querySelectorAll("[data-option]")).map(function (row) {
          const get = (k) => row.querySelector('[data-key="' + k + '"]').value.trim();
          const option = {value: get("value")};
          const label = {};
          if (get("en")) { label.en = get("en"); }
          if (get("zh")) { label.zh = get("zh"); }
          if (Object.keys(label).length) { option.label = label; }
          return option;
        }).filter((o) => o.value !== "");
        hidden.value = JSON.stringify(values);
      });
    }
    // Formula: evaluated on the server as the user types (debounced), on the chosen record.
    const expression = form.querySelector("[data-formula]");
    if (expression) {
      const preview = form.querySelector("[data-formula-preview]");
      const record = form.querySelector("[data-preview-record]");
      const resultType = form.querySelector("#result_type");
      let timer = null;
      const run = function () {
        CRM.post(options.previewUrl, {expression: expression.value, result_type: resultType.value,
                                      record_id: record.value || null, field: options.fieldName || null})
          .then(function (result) {
            const data = result.data || {};
            preview.classList.remove("alert-secondary", "alert-success", "alert-danger");
            if (data.ok) {
              preview.classList.add("alert-success");
              preview.textContent = record.value ? options.text.result + ": " + JSON.stringify(data.value) : (data.message || options.text.valid);
            } else {
              preview.classList.add("alert-danger");
              preview.textContent = data.error || (data.error && data.error.message) || "error";
              if (result.data && result.data.error && result.data.error.message) { preview.textContent = result.data.error.message; }
            }
          });
      };
      const schedule = () => { clearTimeout(timer); timer = setTimeout(run, 300); };
      expression.addEventListener("input", schedule);
      record.addEventListener("change", run);
      resultType.addEventListener("change", run);
      if (expression.value.trim()) { run(); }
    }
    const pattern = form.querySelector("[data-autonumber]");
    if (pattern) {
      const out = form.querySelector("[data-autonumber-preview]");
      const run = () => CRM.post(options.autonumberUrl, {format: pattern.value}).then(function (result) {
        out.textContent = result.data.ok ? result.data.value : result.data.error;
        out.classList.toggle("text-danger", !result.data.ok);
      });
      pattern.addEventListener("input", run);
      run();
    }
  };

  function chip(name, label) {
    return el("div", {class: "crm-chip", "data-name": name}, [
      el("i", {class: "bi bi-grip-vertical crm-drag", "aria-hidden": "true"}),
      el("span", {class: "text-truncate", text: label}),
      el("code", {class: "d-none d-md-inline text-body-tertiary", text: name}),
    ]);
  }
  CRM.chip = chip;

  /* Form layout: sections (label EN/中文, columns) holding fields; unplaced fields in the palette. */
  CRM.layoutDesigner = function (root, layout, fields, text) {
    const palette = root.querySelector("[data-palette]");
    const sectionsBox = root.querySelector("[data-sections]");
    const output = root.closest("form").querySelector("[data-layout-json]");
    const labels = Object.fromEntries(fields.map((f) => [f.name, f.label]));
    const placed = new Set();
    const sortableOptions = {group: "layout-fields", animation: 150, forceFallback: true, fallbackOnBody: true};

    const addSection = function (section) {
      const labelOf = section.label || {};
      const en = typeof labelOf === "string" ? labelOf : (labelOf.en || "");
      const zh = typeof labelOf === "string" ? "" : (labelOf.zh || "");
      const columns = el("select", {class: "form-select form-select-sm w-auto", "data-columns": "", "aria-label": text.columns});
      [1, 2, 3, 4].forEach((n) => columns.add(new Option(n + " " + text.columnsShort, String(n), false, n === (section.columns || 2))));
      const drop = el("div", {class: "crm-drop crm-cols-" + (section.columns || 2), "data-drop": ""});
      columns.addEventListener("change", () => { drop.className = "crm-drop crm-cols-" + columns.value; });
      const card = el("section", {class: "card mb-3", "data-section": ""}, [
        el("div", {class: "card-header bg-body d-flex flex-wrap gap-2 align-items-center"}, [
          el("i", {class: "bi bi-grip-vertical crm-drag crm-section-handle", "aria-hidden": "true"}),
          el("input", {class: "form-control form-control-sm", style: "max-width: 14rem", "data-label-en": "", placeholder: text.sectionLabel + " (EN)", value: en}),
          el("input", {class: "form-control form-control-sm", style: "max-width: 14rem", "data-label-zh": "", lang: "zh", placeholder: text.sectionLabel + " (中文)", value: zh}),
          columns,
          el("button", {class: "btn btn-sm btn-outline-secondary ms-auto", type: "button", "data-remove-section": "", "aria-label": text.removeSection}, [el("i", {class: "bi bi-trash"})]),
        ]),
        el("div", {class: "card-body"}, [drop]),
      ]);
      (section.fields || []).forEach(function (name) {
        if (labels[name] !== undefined) { drop.append(chip(name, labels[name])); placed.add(name); }
      });
      new Sortable(drop, sortableOptions);
      sectionsBox.append(card);
      return card;
    };
    (layout.sections || []).forEach(addSection);
    fields.filter((f) => !placed.has(f.name)).forEach((f) => palette.append(chip(f.name, f.label)));
    new Sortable(palette, sortableOptions);
    new Sortable(sectionsBox, {forceFallback: true, fallbackOnBody: true, handle: ".crm-section-handle", animation: 150});
    root.querySelector("[data-add-section]").addEventListener("click", () => addSection({columns: 2, fields: []}).querySelector("input").focus());
    sectionsBox.addEventListener("click", function (event) {
      const button = event.target.closest("[data-remove-section]");
      if (!button) { return; }
      const card = button.closest("[data-section]");
      card.querySelectorAll(".crm-chip").forEach((c) => palette.append(c));
      card.remove();
    });
    root.closest("form").addEventListener("submit", function () {
      const sections = Array.from(sectionsBox.querySelectorAll("[data-section]")).map(function (card) {
        const en = card.querySelector("[data-label-en]").value.trim();
        const zh = card.querySelector("[data-label-zh]").value.trim();
        const section = {columns: Number(card.querySelector("[data-columns]").value),
                         fields: Array.from(card.querySelectorAll(".crm-chip")).map((c) => c.getAttribute("data-name"))};
        if (en || zh) { section.label = {}; if (en) { section.label.en = en; } if (zh) { section.label.zh = zh; } }
        return section;
      });
      output.value = JSON.stringify({sections: sections});
    });
  };

  /* List columns: chosen columns in order, the rest available; plus the default sort. */
  CRM.listDesigner = function (root, layout, fields) {
    const chosen = root.querySelector("[data-chosen]");
    const available = root.querySelector("[data-available]");
    const labels = Object.fromEntries(fields.map((f) => [f.name, f.label]));
    (layout.columns || []).forEach((n) => { if (labels[n] !== undefined) { chosen.append(chip(n, labels[n])); } });
    fields.filter((f) => !(layout.columns || []).includes(f.name)).forEach((f) => available.append(chip(f.name, f.label)));
    new Sortable(chosen, {forceFallback: true, fallbackOnBody: true, group: "columns", animation: 150});
    new Sortable(available, {forceFallback: true, fallbackOnBody: true, group: "columns", animation: 150});
    root.closest("form").addEventListener("submit", function () {
      const columns = Array.from(chosen.querySelectorAll(".crm-chip")).map((c) => c.getAttribute("data-name"));
      const field = root.querySelector("[data-sort-field]").value;
      const direction = root.querySelector("[data-sort-direction]").value;
      const result = {columns: columns};
      if (field) { result.sort = (direction === "desc" ? "-" : "") + field; }
      root.querySelector("[data-layout-json]").value = JSON.stringify(result);
    });
  };

  /* Pipeline: ordered stages with labels, probability, category and required fields. */
  CRM.pipelineDesigner = function (root, pipeline, fields, text) {
    const list = root.querySelector("[data-stages]");
    const output = root.querySelector("[data-pipeline-json]");
    const addStage = function (stage) {
      const labelOf = stage.label || {};
      const en = typeof labelOf === "string" ? labelOf : (labelOf.en || "");
      const zh = typeof labelOf === "string" ? "" : (labelOf.zh || "");
      const category = el("select", {class: "form-select form-select-sm", "data-key": "category", "aria-label": text.category});
      Object.entries(text.categories).forEach(([k, v]) => category.add(new Option(v, k, false, k === (stage.category || "open"))));
      const required = el("select", {class: "form-select form-select-sm", multiple: "", "data-key": "required", "aria-label": text.required});
      fields.forEach((f) => required.add(new Option(f.label, f.name, false, (stage.required_fields || []).includes(f.name))));
      const row = el("div", {class: "card crm-stage", "data-stage": ""}, [el("div", {class: "card-body p-2"}, [
        el("div", {class: "row g-2 align-items-center"}, [
          el("div", {class: "col-auto"}, [el("i", {class: "bi bi-grip-vertical crm-drag fs-5", "aria-hidden": "true"})]),
          el("div", {class: "col-6 col-md-2"}, [el("input", {class: "form-control form-control-sm font-monospace", "data-key": "name", placeholder: text.name, "aria-label": text.name, value: stage.name || ""})]),
          el("div", {class: "col-5 col-md-2"}, [el("input", {class: "form-control form-control-sm", "data-key": "en", placeholder: text.label + " (EN)", "aria-label": text.label + " (EN)", value: en})]),
          el("div", {class: "col-6 col-md-2"}, [el("input", {class: "form-control form-control-sm", "data-key": "zh", lang: "zh", placeholder: text.label + " (中文)", "aria-label": text.label + " (中文)", value: zh})]),
          el("div", {class: "col-3 col-md-1"}, [el("input", {class: "form-control form-control-sm", type: "number", min: "0", max: "100", "data-key": "probability", placeholder: "%", "aria-label": text.probability, value: stage.probability === undefined || stage.probability === null ? "" : String(stage.probability)})]),
          el("div", {class: "col-3 col-md-1"}, [category]),
          el("div", {class: "col-10 col-md"}, [required]),
          el("div", {class: "col-auto"}, [el("button", {class: "btn btn-sm btn-outline-secondary", type: "button", "data-remove-stage": "", "aria-label": text.remove}, [el("i", {class: "bi bi-x-lg"})])]),
        ]),
      ])]);
      list.append(row);
      new TomSelect(required, {plugins: ["remove_button"], placeholder: text.required});
      const name = row.querySelector('[data-key="name"]');
      const label = row.querySelector('[data-key="en"]');
      let touched = name.value !== "";
      name.addEventListener("input", () => { touched = true; });
      label.addEventListener("input", () => { if (!touched) { name.value = CRM.slugify(label.value); } });
      return row;
    };
    (pipeline.stages || []).forEach(addStage);
    new Sortable(list, {forceFallback: true, fallbackOnBody: true, handle: ".crm-drag", animation: 150});
    root.querySelector("[data-add-stage]").addEventListener("click", () => addStage({}).querySelector('[data-key="en"]').focus());
    list.addEventListener("click", (e) => { const b = e.target.closest("[data-remove-stage]"); if (b) { b.closest("[data-stage]").remove(); } });
    root.closest("form").addEventListener("submit", function () {
      const stages = Array.from(list.querySelectorAll("[data-stage]")).map(function (row) {
        const get = (k) => row.querySelector('[data-key="' + k + '"]');
        const stage = {name: get("name").value.trim(), category: get("category").value,
                       required_fields: Array.from(get("required").selectedOptions).map((o) => o.value)};
        const label = {};
        if (get("en").value.trim()) { label.en = get("en").value.trim(); }
        if (get("zh").value.trim()) { label.zh = get("zh").value.trim(); }
        if (Object.keys(label).length) { stage.label = label; }
        if (get("probability").value !== "") { stage.probability = Number(get("probability").value); }
        return stage;
      }).filter((s) => s.name !== "");
      output.value = JSON.stringify({stages: stages});
    });
  };
})();
