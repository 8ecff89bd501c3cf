"""The audit trail's hash chain (``chain``): building events and checking what is stored."""

from shared.audit.chain import (
    GENESIS,
    INSERT_EVENT,
    AuditEvent,
    ChainBreak,
    CheckResult,
    canonical,
    chain_hash,
    check_stored,
    first_break,
    next_event,
    verify_chain,
)

__all__ = [
    "GENESIS",
    "INSERT_EVENT",
    "AuditEvent",
    "ChainBreak",
    "CheckResult",
    "canonical",
    "chain_hash",
    "check_stored",
    "first_break",
    "next_event",
    "verify_chain",
]
