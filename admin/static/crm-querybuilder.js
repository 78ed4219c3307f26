/* jQuery QueryBuilder wired to our condition format (its JSON is our tree, unchanged), used by the
   list filters, the rule builder and the approval designer. */
(function () {
  "use strict";
  const CRM = window.CRM || (window.CRM = {});

  CRM.buildQuery = function (el, filters, rules, extraOperators) {
    const $el = jQuery(el);
    const operators = jQuery.fn.queryBuilder.constructor.DEFAULTS.operators.concat(extraOperators || []);
    const options = {
      filters: filters, allow_empty: true, operators: operators,
      lang_code: CRM.lang === "zh" ? "zh-CN" : "en",
      plugins: {"bt-checkbox": {font: "bootstrap-icons"}},
      select_placeholder: "—",
    };
    if (CRM.lang === "zh") {
      options.lang = {operators: {changed: "已更改", changed_to: "更改为"}};
    } else {
      options.lang = {operators: {changed: "changed", changed_to: "changed to"}};
    }
    $el.queryBuilder(options);
    if (rules && rules.rules && rules.rules.length) {
      try { $el.queryBuilder("setRules", rules); } catch (e) { console.warn(e); }
    }
    return {
      get: function () {
        const tree = $el.queryBuilder("getRules", {allow_invalid: false, skip_empty: true});
        if (!tree || !tree.rules || !tree.rules.length) { return null; }
        return strip(tree);
      },
      valid: function () { return $el.queryBuilder("validate"); },
      on: function (events, handler) { $el.on(events, handler); },
    };
  };

  // QueryBuilder adds "valid" and "id"/"type"/"input"; our tree keeps condition, not, rules,
  // field, operator, value.
  function strip(node) {
    if (node.rules) {
      const group = {condition: node.condition, rules: node.rules.map(strip)};
      if (node.not) { group.not = true; }
      return group;
    }
    const rule = {field: node.field || node.id, operator: node.operator};
    if (node.value !== undefined && node.value !== null) { rule.value = node.value; }
    else { rule.value = null; }
    return rule;
  }
  CRM.stripTree = strip;

  const SYMBOLS = {equal: "=", not_equal: "≠", less: "<", less_or_equal: "≤", greater: ">", greater_or_equal: "≥"};
  CRM.conditionText = function conditionText(node, labels) {
    if (!node) { return null; }
    if (node.rules) {
      const parts = node.rules.map((r) => conditionText(r, labels)).filter(Boolean);
      const joined = parts.join(node.condition === "OR" ? " or " : " and ");
      return (node.not ? "not " : "") + (parts.length > 1 ? "(" + joined + ")" : joined);
    }
    const value = node.value === null || node.value === undefined ? "" : " " + JSON.stringify(node.value);
    const symbol = SYMBOLS[node.operator] || node.operator.replace(/_/g, " ");
    return (labels[node.field] || node.field) + " " + symbol + value;
  };


  CRM.extraOperators = [
    {type: "changed", nb_inputs: 0, multiple: false, apply_to: ["string", "number", "datetime", "boolean"]},
    {type: "changed_to", nb_inputs: 1, multiple: false, apply_to: ["string", "number", "datetime", "boolean"]},
  ];

  CRM.initListFilters = function () {
    const el = document.getElementById("crm-querybuilder");
    if (!el) { return; }
    const filters = JSON.parse(el.getAttribute("data-filters"));
    let rules = null;
    try { rules = JSON.parse(el.getAttribute("data-rules") || "null"); } catch (e) { rules = null; }
    const builder = CRM.buildQuery(el, filters, rules);
    const form = document.getElementById("crm-filter-form");
    form.addEventListener("submit", function (event) {
      if (!builder.valid()) { event.preventDefault(); return; }
      const tree = builder.get();
      form.querySelector('[name="filter"]').value = tree ? JSON.stringify(tree) : "";
      if (!tree) { form.querySelector('[name="filter"]').disabled = true; }
    });
  };
})();
