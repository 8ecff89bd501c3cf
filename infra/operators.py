"""Functions only operators invoke (``shared.runtime.catalog.OPERATORS``), under fixed names.

The runbook names them literally (``aws lambda invoke --function-name ticketing-replay-dlq``), so
each is deployed as ``<functionNamePrefix>-<name>``; the prefix is a context setting (default
``ticketing``) so that two stages in one account can each have their own.
"""

from __future__ import annotations

from constructs import Construct

from infra.functions import FunctionContext, TicketingFunction
from infra.queues import _construct_id
from shared.runtime.catalog import OperatorFunction


class Operators(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        operators: tuple[OperatorFunction, ...],
        context: FunctionContext,
        name_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.functions: dict[str, TicketingFunction] = {}
        for entry in operators:
            self.functions[entry.function] = TicketingFunction(
                self,
                _construct_id(entry.function),
                name=entry.function,
                settings=entry.settings,
                context=context,
                description=entry.summary,
                function_name=f"{name_prefix}-{entry.name}",
            )
