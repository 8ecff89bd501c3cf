"""Load and invoke the functions under ``functions/`` the way Lambda does."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

from local.events import LambdaContext
from shared.runtime.catalog import FunctionSettings

Handler = Callable[[dict[str, Any], Any], Any]

ACCOUNT = "123456789012"
REGION = "eu-west-1"


class FunctionMissing(LookupError):
    """The function's folder (or its handler.py) does not exist yet."""


def exists(function: str) -> bool:
    return importlib.util.find_spec(f"functions.{function}") is not None and (
        importlib.util.find_spec(f"functions.{function}.handler") is not None
    )


def load(function: str) -> Handler:
    """``functions.<function>.handler.handler``; FunctionMissing if there is no such function."""
    module_name = f"functions.{function}.handler"
    if not exists(function):
        raise FunctionMissing(f"functions/{function}/handler.py does not exist")
    module = importlib.import_module(module_name)
    handler: Handler = module.handler
    return handler


def context(function: str, settings: FunctionSettings | None = None) -> LambdaContext:
    settings = settings or FunctionSettings()
    name = f"ticketing-{function.replace('_', '-')}"
    return LambdaContext(
        function_name=name,
        memory_limit_in_mb=settings.memory_mb,
        timeout_ms=settings.timeout_s * 1000,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        log_group_name=f"/aws/lambda/{name}",
    )
