"""Routing rules (issue 10 §5): ordered rules that set a new ticket's queue, assignee, priority,
visibility, tags and SLA policy, in the transaction that creates it.

- ``conditions``: the condition language (a validated JSON tree; regular expressions by RE2);
- ``rules``: the rule models, the actions, and ``route`` (what the rules do to a ticket: pure);
- ``repository``: the SQL (migration 0008);
- ``service``: reading and writing rules (audited), the dry run, and ``apply``, which
  ``shared.tickets.service.create`` calls for every new ticket.

This package never imports ``shared.tickets`` (which imports it): it has its own vocabulary.
"""

from shared.routing.rules import KEPT_WHEN_CHOSEN
from shared.routing.service import apply

__all__ = ["KEPT_WHEN_CHOSEN", "apply"]
