from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from access_program.accounts.models import Role, Scope


class LoginForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[
            DataRequired(message="Enter your email address."),
            Email(message="Enter an email address like name@example.org."),
        ],
    )
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password.")])


class UserForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[
            DataRequired(message="Enter their email address."),
            Email(message="Enter an email address like name@example.org."),
        ],
    )
    name = StringField(
        "Name", validators=[DataRequired(message="Enter their name."), Length(max=120)]
    )
    role = SelectField("Role", choices={Role.STAFF.value: "Staff", Role.ADMIN.value: "Admin"})
    password = PasswordField(
        "Initial password",
        validators=[
            DataRequired(message="Enter an initial password."),
            Length(min=10, message="Use at least 10 characters."),
        ],
        description="At least 10 characters. Share it with them privately.",
    )


class TokenForm(FlaskForm):
    service_name = StringField(
        "Service name",
        validators=[Optional(), Length(max=120)],
        description="For a service such as the generation tool."
        " Leave empty for a token of your own.",
    )
    scopes = SelectMultipleField(
        "Scopes",
        choices={s.value: s.value for s in Scope},
        validators=[DataRequired(message="Choose at least one scope.")],
        default=[Scope.ACCESS_CHECK.value],
    )


class ConfirmForm(FlaskForm):
    """An empty form: a POST with a CSRF token, for buttons."""
