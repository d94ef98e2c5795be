from marshmallow import Schema, fields, validate


class AuditQuerySchema(Schema):
    action = fields.String(validate=validate.Length(max=64))
    artist_id = fields.Integer()
    since = fields.AwareDateTime()
    until = fields.AwareDateTime()


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
