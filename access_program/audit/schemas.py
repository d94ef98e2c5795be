import datetime as dt

from marshmallow import Schema, fields, validate


class AuditQuerySchema(Schema):
    #: An exact action (``grant.revoked``) or a prefix ending in a dot (``grant.``).
    action = fields.String(validate=validate.Length(max=64))
    #: Bounded: SQLite cannot bind integers beyond 64 bits.
    artist_id = fields.Integer(validate=validate.Range(min=1, max=2**63 - 1))
    #: ISO 8601; a time without a zone is read as UTC.
    since = fields.AwareDateTime(default_timezone=dt.UTC)
    until = fields.AwareDateTime(default_timezone=dt.UTC)


class AuditEventSchema(Schema):
    seq = fields.Integer()
    occurred_at = fields.DateTime()
    actor_type = fields.String()
    actor_id = fields.Integer(allow_none=True)
    actor_label = fields.String()
    action = fields.String()
    subject_type = fields.String()
    subject_id = fields.String(allow_none=True)
    artist_id = fields.Integer(allow_none=True)
    data = fields.Dict()
    request_id = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    prev_hash = fields.String()
    hash = fields.String()
