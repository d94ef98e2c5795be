from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from access_program.accounts.models import Role, Scope


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email()])
    password = PasswordField("Password", validators=[DataRequired()])


class UserForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email()])
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    role = SelectField("Role", choices={Role.STAFF.value: "Staff", Role.ADMIN.value: "Admin"})
    password = PasswordField(
        "Initial password",
        validators=[DataRequired(), Length(min=10)],
        description="At least 10 characters. Share it privately; they can change it later.",
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
        validators=[DataRequired()],
        default=[Scope.ACCESS_CHECK.value],
    )


class ConfirmForm(FlaskForm):
    """An empty form: a POST with a CSRF token, for buttons."""
