from marshmallow import Schema, fields


class OutboxMessageSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    to_email = fields.String()
    user_id = fields.Integer(allow_none=True)
    subject = fields.String()
    body = fields.String()
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
