"""The catalogue of error codes: each code the layers below give an error, in words the UI translates.

Keys are the stable codes of :mod:`crm_platform.core.errors` (reasons, coded field problems) and
of :mod:`metadata.references` (what still refers to a definition); :mod:`admin.messages` renders
them with names shown by their labels. Every string is a ``lazy_gettext``, so it is extracted into
``messages.pot`` and said in the language of the request that renders it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext

#: Field problems by code (``metadata.records``, ``metadata.field_types``).
FIELD_MESSAGES: Mapping[str, Any] = {
    "required": lazy_gettext("Required."),
    "required_for_stage": lazy_gettext("Required to enter stage %(stage)s."),
    "stage_requires": lazy_gettext("Stage %(stage)s requires: %(fields)s."),
    "unknown_stage": lazy_gettext("Unknown stage %(stage)s; the stages are: %(stages)s."),
    "dependent_choice": lazy_gettext("%(value)s is not allowed when %(field)s is %(controlling)s."),
    "unknown_field": lazy_gettext("Unknown field."),
    "system_field": lazy_gettext("A system field; it cannot be changed."),
    "computed_field": lazy_gettext("Computed by the platform; it cannot be changed."),
    "not_writable": lazy_gettext("You may not change this field."),
    "no_pipeline": lazy_gettext("This object has no pipeline."),
    "report_not_found": lazy_gettext("Report #%(id)s does not exist."),
    "not_an_object": lazy_gettext("Not a record."),
    "not_integer": lazy_gettext("Not a whole number."),
    "not_number": lazy_gettext("Not a number."),
    "not_boolean": lazy_gettext("Not yes or no."),
    "not_date": lazy_gettext("Not a valid date."),
    "not_datetime": lazy_gettext("Not a valid date and time."),
    "not_email": lazy_gettext("Not a valid e-mail address."),
    "not_url": lazy_gettext("Not a valid URL."),
    "not_phone": lazy_gettext("Not a valid phone number."),
    "not_text": lazy_gettext("Not text."),
    "not_list": lazy_gettext("Not a list."),
    "nul_character": lazy_gettext("Contains a NUL character."),
    "invalid_unicode": lazy_gettext("Not valid Unicode text."),
    "invalid_id": lazy_gettext("Not a valid id."),
    "out_of_range": lazy_gettext("Out of the range this field can store."),
    "min": lazy_gettext("Must be at least %(min)s."),
    "max": lazy_gettext("Must be at most %(max)s."),
    "between": lazy_gettext("Must be between %(min)s and %(max)s."),
    "max_length": lazy_gettext("At most %(max)s characters."),
    "pattern": lazy_gettext("Does not match the pattern %(pattern)s."),
    "choice": lazy_gettext("Must be one of: %(choices)s."),
    "lookup_not_found": lazy_gettext("%(object)s #%(id)s does not exist."),
    "user_not_found": lazy_gettext("User #%(id)s does not exist."),
    "unique": lazy_gettext("Already used by %(object)s #%(id)s."),
    "unique_race": lazy_gettext("Must be unique: another record with this value was saved at the same time."),
    "duplicate_in_batch": lazy_gettext("%(value)s occurs more than once."),
    "current_version": lazy_gettext("The current version is %(version)s."),
    "outside_scope": lazy_gettext("Outside your scope (%(scope)s)."),
    "formula_failed": lazy_gettext("The formula failed: %(error)s"),
    "formula_out_of_range": lazy_gettext("The formula's result %(value)s is out of range."),
    # Definitions (``metadata.definitions``, the designers).
    "already_exists": lazy_gettext("Already exists."),
    "invalid_name": lazy_gettext("%(name)s is not a valid name: use lower-case letters, digits and _, starting with a "
                                 "letter."),
    "reserved_name": lazy_gettext("%(name)s is a reserved word; choose another name."),
    "system_name": lazy_gettext("%(name)s is a system column; choose another name."),
    "duplicate_name": lazy_gettext("The field name %(name)s is used twice."),
    "unknown_field_named": lazy_gettext("Unknown field %(name)s."),
    "no_options": lazy_gettext("A picklist needs at least one option."),
    "duplicate_options": lazy_gettext("Option values must be unique."),
    "no_target": lazy_gettext("A lookup needs a target object."),
    "unknown_target": lazy_gettext("Unknown target object %(target)s."),
    "no_expression": lazy_gettext("A formula needs an expression."),
    "bad_formula": lazy_gettext("Invalid formula: %(error)s"),
    "min_above_max": lazy_gettext("The minimum is greater than the maximum."),
    "missing_property": lazy_gettext("%(name)s is required."),
    # List filters (``metadata.query``, ``metadata.conditions``).
    "unknown_filter_field": lazy_gettext("There is no field %(field)s to filter by."),
    "unknown_filter_suffix": lazy_gettext("Unknown filter operator %(operator)s; use one of: %(operators)s."),
    "unknown_operator": lazy_gettext("%(field)s: unknown operator %(operator)s."),
    "operator_not_for_field": lazy_gettext("%(field)s: the operator %(operator)s cannot be used on this field."),
    "filter_not_json": lazy_gettext("The filter cannot be read (not valid JSON)."),
    "takes_no_value": lazy_gettext("%(field)s: the operator %(operator)s takes no value."),
    "value_not_list": lazy_gettext("%(field)s: give a list of values."),
    "value_not_pair": lazy_gettext("%(field)s: give two values, from and to."),
    "bounds_reversed": lazy_gettext("%(field)s: the lower bound %(low)s is greater than the upper bound %(high)s."),
    "bounds_incomparable": lazy_gettext("%(field)s: the bounds %(low)s and %(high)s cannot be compared."),
    "value_not_one": lazy_gettext("%(field)s: give one value."),
    "value_empty_text": lazy_gettext("%(field)s: give some text."),
    "value_null": lazy_gettext("%(field)s: give a value (or use is empty)."),
    "value_invalid": lazy_gettext("%(field)s: %(value)s is not a valid value."),
    "value_not_option": lazy_gettext("%(field)s: %(value)s is not one of the options: %(choices)s."),
    # What makes a formula or an expression invalid (``metadata.formulas``), said as a formula's ``cause``.
    "unknown_function": lazy_gettext("Unknown function %(name)s."),
    "function_not_called": lazy_gettext("%(name)s is a function; call it, such as %(name)s(...)."),
    "argument_count": lazy_gettext("%(name)s cannot take %(count)s argument(s)."),
    "keyword_arguments": lazy_gettext("%(name)s takes no named arguments."),
    "not_allowed": lazy_gettext("%(construct)s is not allowed."),
    "syntax_error": lazy_gettext("Invalid syntax at column %(column)s."),
    "nested_too_deeply": lazy_gettext("Nested too deeply."),
    "division_by_zero": lazy_gettext("Division by zero."),
    "value_too_large": lazy_gettext("A value is too large."),
    "result_not_convertible": lazy_gettext("The result %(value)s cannot be stored as %(type)s."),
    "name_alone": lazy_gettext("%(name)s alone is not a condition; compare it, such as %(name)s == True."),
    "value_alone": lazy_gettext("The value %(value)s alone is not a condition."),
    "sign_not_number": lazy_gettext("A sign applies only to numbers, not %(value)s."),
    "none_not_value": lazy_gettext("None is not a value: use is_null(field) or is_not_null(field)."),
    "compare_fields": lazy_gettext("Comparing two fields is not supported."),
    "chained_comparison": lazy_gettext("Chained comparisons are not supported; use between(field, low, high)."),
    "is_only_none": lazy_gettext("is is only allowed as field is None or field is not None."),
    "needs_field": lazy_gettext("A comparison needs a field on one side."),
    "in_needs_list": lazy_gettext("%(name)s in ... needs a list of values, such as %(name)s in (\"a\", \"b\")."),
    "method_on_field": lazy_gettext(".%(method)s() can only be called on a field."),
    "method_one_argument": lazy_gettext(".%(method)s() takes exactly one argument."),
    "needs_condition": lazy_gettext("%(name)s() needs at least one condition."),
    "function_values": lazy_gettext("%(name)s() takes a field and %(count)s value(s)."),
    # List parameters (``metadata.query``).
    "parameter_too_long": lazy_gettext("Longer than %(max)s characters."),
    "given_twice": lazy_gettext("Given more than once."),
    "isnull_value": lazy_gettext("Use true or false."),
    "filter_too_deep": lazy_gettext("The filter is nested too deeply."),
    "filter_not_tree": lazy_gettext("The filter must be a condition tree."),
    "search_too_long": lazy_gettext("The search may have at most %(max)s characters."),
    "unknown_sort_field": lazy_gettext("There is no field %(field)s to sort by."),
    "not_sortable": lazy_gettext("The list cannot be sorted by %(field)s."),
    "multi_picklist_sort": lazy_gettext("%(field)s is a multi-select picklist; the list cannot be sorted by it."),
    # Definition shapes (JSON Schema) and meaning (``metadata.definitions``).
    "unknown_property": lazy_gettext("Unknown setting %(name)s."),
    "wrong_type": lazy_gettext("Must be %(expected)s."),
    "empty": lazy_gettext("Must not be empty."),
    "min_length": lazy_gettext("At least %(min)s characters."),
    "empty_list": lazy_gettext("Needs at least one item."),
    "min_items": lazy_gettext("Needs at least %(min)s items."),
    "max_items": lazy_gettext("At most %(max)s items."),
    "option_not_applicable": lazy_gettext("The setting %(key)s does not apply to a %(type)s field."),
    "not_indexable": lazy_gettext("A %(type)s field cannot be unique or indexed."),
    "computed_not_required": lazy_gettext("A %(type)s field is computed: it cannot be required or have a default."),
    "self_lookup_cascade": lazy_gettext("A lookup to its own object cannot delete in cascade."),
    "no_format": lazy_gettext("An auto number needs a format such as LEAD-{0000}."),
    "bad_pattern": lazy_gettext("%(pattern)s is not a valid regular expression."),
    "depends_on_not_picklist": lazy_gettext("Must name a picklist field of the same object."),
    "not_an_option": lazy_gettext("%(value)s is not an option of %(field)s."),
    "invalid_default": lazy_gettext("The default %(value)s is not a valid value of this field."),
    "min_not_date": lazy_gettext("The minimum must be a date such as 2025-01-31."),
    "max_not_date": lazy_gettext("The maximum must be a date such as 2025-01-31."),
    "min_not_number": lazy_gettext("The minimum must be a number."),
    "max_not_number": lazy_gettext("The maximum must be a number."),
    "no_result_type": lazy_gettext("A formula needs a result type."),
    "formula_cycle": lazy_gettext("Formulas refer to each other in a cycle: %(cycle)s."),
    "duplicate_stage": lazy_gettext("The stage name %(name)s is used twice."),
    "computed_required": lazy_gettext("%(field)s is computed; a stage cannot require it."),
    "placed_twice": lazy_gettext("%(field)s is placed twice."),
    # Rules and approval processes (``workflow_engine.definitions``, ``workflow_engine.approval_definitions``).
    "unknown_object": lazy_gettext("Unknown object %(object)s."),
    "unknown_field_of": lazy_gettext("%(object)s has no field %(name)s."),
    "unknown_stage_named": lazy_gettext("Unknown stage %(name)s."),
    "object_without_pipeline": lazy_gettext("%(object)s has no pipeline."),
    "not_for_trigger": lazy_gettext("The setting %(key)s does not apply to this trigger."),
    "no_trigger_fields": lazy_gettext("Choose the fields whose change triggers the rule."),
    "invalid_value": lazy_gettext("%(value)s is not a valid value of %(field)s."),
    "invalid_value_of": lazy_gettext("%(value)s is not a valid value of %(field)s."),
    "bad_cron": lazy_gettext("%(cron)s is not a valid cron expression (such as 0 9 * * 1-5)."),
    "no_offset": lazy_gettext("Say when: an amount and a unit, such as 72 hours."),
    "not_a_date_field": lazy_gettext("%(field)s is not a date or date-and-time field."),
    "before_needs_field": lazy_gettext("Counting back (before) needs a date field."),
    "bad_condition": lazy_gettext("Invalid condition: %(error)s"),
    "computed_field_of": lazy_gettext("%(field)s is computed and cannot be set."),
    "not_settable": lazy_gettext("%(object)s has no field %(name)s that a rule may set."),
    "action_needs": lazy_gettext("This action needs the setting %(key)s."),
    "not_for_action": lazy_gettext("The setting %(key)s does not apply to this action."),
    "value_or_formula": lazy_gettext("Give either a value or a formula."),
    "object_requires": lazy_gettext("%(object)s requires: %(names)s."),
    "not_a_lookup_to": lazy_gettext("%(other)s.%(name)s is not a lookup to %(object)s."),
    "not_a_lookup_of": lazy_gettext("%(name)s is not a lookup field of %(object)s."),
    "no_user": lazy_gettext("Name the user (an e-mail)."),
    "no_candidates": lazy_gettext("Say who to choose from: a team, users or a territory."),
    "bad_template": lazy_gettext("The template cannot be read (line %(line)s)."),
    "webhook_url": lazy_gettext("A webhook needs an http or https URL, not %(url)s."),
    "no_such_process": lazy_gettext("%(object)s has no approval process %(process)s."),
    "duplicate_step": lazy_gettext("Two steps are named %(name)s."),
    "quorum_missing": lazy_gettext("A quorum step needs the number of approvals that completes it."),
    "quorum_not_for_mode": lazy_gettext("A quorum applies only to a step in quorum mode."),
    "quorum_above_approvers": lazy_gettext("A quorum of %(quorum)s needs at least as many approvers; this step names "
                                           "%(count)s."),
    "no_such_user": lazy_gettext("There is no user %(user)s."),
    "user_inactive": lazy_gettext("%(user)s is inactive."),
    "unknown_role": lazy_gettext("Unknown role %(role)s."),
    "manager_takes_no_value": lazy_gettext("A manager approver is the record owner's manager; give no value."),
    "approver_needs_value": lazy_gettext("This approver needs a value."),
    "approver_not_user_field": lazy_gettext("%(field)s is a %(type)s field; an approver field must be a user field."),
}

#: Whole errors by reason.
REASONS: Mapping[str, Any] = {
    "stale_version": lazy_gettext(
        "This %(object)s was changed by someone else (version %(current)s, yours is %(sent)s); reload it and try again."),
    "changed_concurrently": lazy_gettext("This %(object)s was changed at the same time; reload it and try again."),
    "not_unique": lazy_gettext("%(field)s must be unique: %(value)s is already used by %(object)s #%(id)s."),
    "unique_race": lazy_gettext("A %(object)s with the same unique value was saved at the same time; try again."),
    "record_not_found": lazy_gettext("%(object)s #%(id)s does not exist."),
    "no_such_record": lazy_gettext("Record %(id)s does not exist."),
    "no_such_object": lazy_gettext("Object %(object)s does not exist."),
    "update_outside_scope": lazy_gettext("You may not change this %(object)s."),
    "delete_outside_scope": lazy_gettext("You may not delete this %(object)s."),
    "action_not_allowed": lazy_gettext("You may not %(action)s %(object)s records."),
    "owner_outside_scope": lazy_gettext("You may not %(action)s %(object)s records owned by that user."),
    "read_only_fields": lazy_gettext("These fields cannot be changed: %(fields)s."),
    "still_referenced": lazy_gettext("This %(object)s is still referenced by %(count)s %(other)s record(s) through "
                           "%(field)s; delete or re-point them first."),
    "awaiting_approval": lazy_gettext("Locked: awaiting approval in %(process)s (step %(step)s) until the request is "
                            "approved, rejected or recalled."),
    # The designers (``metadata.designer``).
    "object_exists": lazy_gettext("An object named %(object)s already exists."),
    "field_exists": lazy_gettext("%(object)s already has a field named %(field)s."),
    "no_such_field": lazy_gettext("Field %(field)s does not exist on %(object)s."),
    "field_change_not_object": lazy_gettext("A field change must be a JSON object."),
    "object_referenced": lazy_gettext("%(object)s cannot be deleted: it is still referenced by %(references)s."),
    "field_referenced": lazy_gettext("%(field)s cannot be deleted: it is still referenced by %(references)s."),
    "required_without_default": lazy_gettext(
        "%(field)s cannot be required without a default: %(count)s existing records would have no value."),
    "type_change_unsupported": lazy_gettext(
        "%(field)s cannot change from %(from)s to %(to)s; add a new field instead."),
    "lookup_retarget_in_use": lazy_gettext(
        "%(field)s cannot point at another object while records use it; clear it on every record first."),
    "required_refused": lazy_gettext("%(field)s cannot be made required: %(count)s records have no value "
                                     "(records %(ids)s)."),
    "unique_refused": lazy_gettext("%(field)s cannot be made unique: some values occur more than once (%(values)s)."),
    "conversion_refused": lazy_gettext("%(field)s cannot be changed to %(to)s: %(count)s records hold values that do "
                                       "not fit (records %(ids)s)."),
    "stages_in_use": lazy_gettext("These stages still hold records: %(stages)s; move those records first."),
    # Approvals (``workflow_engine.approvals``).
    "comment_too_long": lazy_gettext("The comment may have at most %(max)s characters."),
    "no_such_request": lazy_gettext("Approval request %(id)s does not exist."),
    "request_decided": lazy_gettext("Approval request %(id)s is already %(status)s."),
    "task_decided": lazy_gettext("Your task in step %(step)s of approval request %(id)s is already %(status)s."),
    "not_an_approver": lazy_gettext("You are not an approver of approval request %(id)s (step %(step)s)."),
    "recall_not_allowed": lazy_gettext("Only the submitter or an administrator may recall approval request %(id)s."),
    "delegate_to_required": lazy_gettext("Choose someone to delegate to."),
    "delegate_to_inactive": lazy_gettext("%(user)s is inactive."),
    "delegate_to_self": lazy_gettext("You cannot delegate a task to yourself."),
    "delegate_to_approver": lazy_gettext("%(user)s is already an approver of step %(step)s."),
    "process_required": lazy_gettext("Choose an approval process."),
    "no_such_process": lazy_gettext("%(object)s has no approval process %(process)s."),
    "process_inactive": lazy_gettext("The approval process %(process)s is inactive."),
    "already_awaiting": lazy_gettext("This %(object)s already awaits approval in %(process)s."),
    "formula_cycle": lazy_gettext("Formulas refer to each other in a cycle: %(cycle)s."),
    # Approval planning (``workflow_engine.approvals``).
    "no_approver": lazy_gettext("Step %(step)s has no approver: %(causes)s."),
    "quorum_unreachable": lazy_gettext("Step %(step)s needs %(quorum)s approvals but has only %(count)s approver(s): "
                                       "%(approvers)s."),
    "entry_condition_not_met": lazy_gettext("This %(object)s does not meet the entry condition of %(process)s: "
                                            "%(condition)s."),
    "no_step_applies": lazy_gettext("No step of %(process)s applies to this %(object)s."),
    "wrong_credentials": lazy_gettext("wrong e-mail or password"),
    "inactive_account": lazy_gettext("this account is inactive"),
    "account_locked": lazy_gettext("too many failed logins; the account is locked until %(time)s UTC"),
}

ACTIONS: Mapping[str, Any] = {
    "read": lazy_gettext("read"), "create": lazy_gettext("create"), "update": lazy_gettext("change"),
    "delete": lazy_gettext("delete"), "export": lazy_gettext("export"),
}
STATUSES: Mapping[str, Any] = {
    "pending": lazy_gettext("pending"), "approved": lazy_gettext("approved"), "rejected": lazy_gettext("rejected"),
    "recalled": lazy_gettext("recalled"), "skipped": lazy_gettext("skipped"), "delegated": lazy_gettext("delegated"),
}
SCOPES: Mapping[str, Any] = {
    "none": lazy_gettext("none"), "own": lazy_gettext("own records"), "team": lazy_gettext("team records"),
    "all": lazy_gettext("all records"),
}

#: What still refers to an object or field being deleted, by kind (``metadata.references``).
REFERENCES: Mapping[str, Any] = {
    "lookup_field": lazy_gettext("the lookup field %(object)s.%(field)s"),
    "formula_field": lazy_gettext("the formula field %(object)s.%(field)s"),
    "dependent_field": lazy_gettext("the dependent picklist %(object)s.%(field)s"),
    "rule": lazy_gettext("the rule %(name)s (id %(id)s)"),
    "approval_process": lazy_gettext("the approval process %(name)s (id %(id)s)"),
    "approval_process_version": lazy_gettext("the approval process %(name)s (id %(id)s, version %(version)s)"),
    "pending_approvals": lazy_gettext("pending approval requests on %(object)s"),
}
#: Why an approver specification found nobody (``workflow_engine.approvals.resolve_approvers``).
CAUSES: Mapping[str, Any] = {
    "no_such_user": lazy_gettext("there is no user %(user)s"),
    "user_inactive": lazy_gettext("%(user)s is inactive"),
    "role_unheld": lazy_gettext("nobody active holds the role %(role)s"),
    "owner_without_manager": lazy_gettext("the record's owner has no manager"),
    "approver_field_empty": lazy_gettext("%(field)s is empty"),
}
#: JSON Schema types, as a shape error names what was expected.
JSON_TYPES: Mapping[str, Any] = {
    "string": lazy_gettext("text"), "integer": lazy_gettext("a whole number"), "number": lazy_gettext("a number"),
    "boolean": lazy_gettext("true or false"), "array": lazy_gettext("a list"), "object": lazy_gettext("an object"),
    "null": lazy_gettext("empty"),
}
#: List parameters, as their problems are named.
PARAMETERS: Mapping[str, Any] = {
    "page": lazy_gettext("Page"), "per_page": lazy_gettext("Records per page"),
}
