"""The audit chain. Every domain writes through ``audit.record`` (or ``audit.record_many`` for a
batch made in one transaction); audit imports no domain."""

from access_program.audit.service import Actor, Event, record, record_many

__all__ = ["Actor", "Event", "record", "record_many"]
