"""Console forms checked by the API's own request models, errors shown by field."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from kokudaka.core.i18n import Language, field_error_message

#: Field name -> its messages; the empty name holds messages about the whole form.
FormErrors = dict[str, list[str]]


class ConsoleForm(BaseModel):
    """A console form's fields as typed, declared once: FastAPI reads a handler's
    ``Annotated[TheForm, Form()]`` parameter from the posted body, and the same model
    gives the fields to show again after an error, or empty for a new form. Every field
    is text: the API's request model checks and converts it, with its own messages."""

    model_config = ConfigDict(str_max_length=4000, frozen=True)

    csrf_token: str = ""

    def fields(self) -> dict[str, str]:
        """What the form shows: every field but the CSRF token."""
        return self.model_dump(exclude={"csrf_token"})


def whole_number(text: str) -> int | str:
    """A number typed in a form ("1,000,000" reads as 1000000); anything else is passed
    on as it is, so that the request model refuses it with its own message."""
    cleaned = text.strip().replace(",", "").replace("，", "")
    try:
        return int(cleaned)
    except ValueError:
        return text


def form_errors(invalid: ValidationError, language: Language) -> FormErrors:
    errors: FormErrors = {}
    for error in invalid.errors(include_url=False):
        name = str(error["loc"][0]) if error["loc"] else ""
        text = field_error_message(error["type"], error.get("ctx"), error["msg"], language)
        errors.setdefault(name, []).append(text)
    return errors
