"""Messages that come from the layers below (validation, login) shown in the user's language.

The record service and marshmallow speak English; a message that matches one of these patterns
is shown translated, anything else as it came (it still names the field and the reason).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask_babel import gettext as _

PATTERNS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"^required$"), lambda m: _("Required.")),
    (re.compile(r"^Missing data for required field\.$"), lambda m: _("Required.")),
    (re.compile(r"^Field may not be null\.$"), lambda m: _("Required.")),
    (re.compile(r"^Not a valid integer\.$"), lambda m: _("Not a whole number.")),
    (re.compile(r"^Not a valid number\.$"), lambda m: _("Not a number.")),
    (re.compile(r"^Not a valid email address\.$"), lambda m: _("Not a valid e-mail address.")),
    (re.compile(r"^Not a valid URL\.$"), lambda m: _("Not a valid URL.")),
    (re.compile(r"^Not a valid date\.$"), lambda m: _("Not a valid date.")),
    (re.compile(r"^Not a valid datetime\.$"), lambda m: _("Not a valid date and time.")),
    (re.compile(r"^Not a valid phone number\.$"), lambda m: _("Not a valid phone number.")),
    (re.compile(r"^Must be greater than or equal to (.+)\.$"), lambda m: _("Must be at least %(min)s.", min=m.group(1))),
    (re.compile(r"^Must be less than or equal to (.+)\.$"), lambda m: _("Must be at most %(max)s.", max=m.group(1))),
    (re.compile(r"^Must be greater than or equal to (.+) and less than or equal to (.+)\.$"),
     lambda m: _("Must be between %(min)s and %(max)s.", min=m.group(1), max=m.group(2))),
    (re.compile(r"^Longer than maximum length (\d+)\.$"), lambda m: _("At most %(max)s characters.", max=m.group(1))),
    (re.compile(r"^Must be one of: (.+)\.$"), lambda m: _("Must be one of: %(choices)s.", choices=m.group(1))),
    (re.compile(r"^String does not match expected pattern\.$"), lambda m: _("Does not match the required pattern.")),
    (re.compile(r"^required to enter stage '(.+)'$"), lambda m: _("Required to enter stage %(stage)s.", stage=m.group(1))),
    (re.compile(r"^wrong e-mail or password$"), lambda m: _("wrong e-mail or password")),
    (re.compile(r"^this account is inactive$"), lambda m: _("this account is inactive")),
    (re.compile(r"^too many failed logins; the account is locked until (.+) UTC$"),
     lambda m: _("too many failed logins; the account is locked until %(time)s UTC", time=m.group(1))),
    (re.compile(r"^already used by (\w+) (\d+)$"), lambda m: _("Already used by %(object)s %(id)s.", object=m.group(1), id=m.group(2))),
]


def translate(message: str) -> str:
    for pattern, render in PATTERNS:
        match = pattern.match(message)
        if match:
            return render(match)
    return message
