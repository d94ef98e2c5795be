"""The audit chain. Every domain writes through ``audit.record``; audit imports no domain."""

from access_program.audit.service import Actor, record

__all__ = ["Actor", "record"]
