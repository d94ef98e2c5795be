"""Account and token schemas, one per direction."""

from marshmallow import Schema, fields, validate

from access_program.accounts.models import Role


class TokenRequestSchema(Schema):
    email = fields.Email(required=True)
    password = fields.String(required=True, load_only=True)


class TokenIssuedSchema(Schema):
    token = fields.String()
    expires_at = fields.DateTime(allow_none=True)


class UserCreateSchema(Schema):
    email = fields.Email(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    role = fields.String(required=True, validate=validate.OneOf([Role.STAFF, Role.ADMIN]))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=10))


class UserSchema(Schema):
    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    role = fields.String()
    active = fields.Boolean()
    last_login_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class MeSchema(UserSchema):
    access = fields.Dict(allow_none=True)
    cohort = fields.Dict(allow_none=True)
    pauses = fields.List(fields.Dict())
    needs_terms_acceptance = fields.Boolean()
