"""Account and token schemas, one per direction."""

from marshmallow import Schema, fields, validate

from access_program.accounts.models import Role
from access_program.accounts.service import MAX_EMAIL_LENGTH, MIN_PASSWORD_LENGTH

#: Longer values are refused (422) before they reach the database or the password hasher.
MAX_EMAIL = MAX_EMAIL_LENGTH
MAX_PASSWORD = 1024


class TokenRequestSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=MAX_EMAIL))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(max=MAX_PASSWORD)
    )


class TokenIssuedSchema(Schema):
    token = fields.String()
    expires_at = fields.DateTime(allow_none=True)


class UserCreateSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=MAX_EMAIL))
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    #: Artists join only through invitations.
    role = fields.String(
        required=True, validate=validate.OneOf([Role.STAFF.value, Role.ADMIN.value])
    )
    password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD),
    )


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
