"""Forms of the case pages. They parse input only; the services decide what is allowed.

Text fields the services require (notes, reasons) are optional here on purpose: the service's
error, with its field name, is shown next to the field, so the rule lives in one place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.forms import BoundField
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from civicgrid.accounts.models import Organization, OrganizationKind
from civicgrid.accounts.selectors import client_organization_list
from civicgrid.accounts.services import CLIENT_KEY_RATE_MAX
from civicgrid.cases.attributes import AttributeDef
from civicgrid.cases.common_problems import category_picker
from civicgrid.cases.errors import CaseError
from civicgrid.cases.models import CancelReason, Category, Satisfaction, Urgency
from civicgrid.cases.services import validate_location
from civicgrid.core.datetimes import format_w3_datetime
from civicgrid.geo.locate import locate_many

DATETIME_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files under one name; each is checked later by check_photo."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*"}))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        if isinstance(data, list | tuple):
            return [f for f in data if f]
        return [data] if data else []


def _note(label: Any = None, *, rows: int = 2) -> forms.CharField:
    return forms.CharField(
        label=label or _("Note"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": rows}),
    )


def _units() -> Any:
    return Organization.objects.filter(
        is_active=True, kind__in=[OrganizationKind.DEPARTMENT, OrganizationKind.CONTRACTOR]
    ).order_by("kind", "code")


class CategorySelect(forms.Select):
    """The category ``<select>``: options grouped by parent (``<optgroup>``), each carrying the
    words the picker's search matches (``data-search``) and, for a common problem, its plain
    words (``data-plain``). It is the form's real field, with or without JavaScript."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.search_text: dict[str, str] = {}
        self.plain_names: dict[str, str] = {}

    def create_option(
        self,
        name: str,
        value: Any,
        label: Any,
        selected: Any,
        index: int,
        subindex: int | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        code = str(value)
        if code in self.search_text:
            option["attrs"]["data-search"] = self.search_text[code]
        if code in self.plain_names:
            option["attrs"]["data-plain"] = self.plain_names[code]
        return option


MARK_THE_PLACE = _("Mark the place on the map or give an address.")
PHOTOS_NOT_KEPT = _(
    "A browser cannot keep photos when the form comes back: if you chose any, choose them again."
)
# Where the summary links for each field, in page order (step 1, 2, 3).
LOCATION_ANCHOR = "where"
LOCATION_ERROR_ID = "id_location_error"


@dataclass(frozen=True)
class SummaryError:
    """One line of an error summary: the message and the id of the element it links to."""

    message: str
    target: str = ""


class ReportForm(forms.Form):
    """The report page's form, in the page's three steps: where (point or address), what
    (category), details.

    ``clean`` checks the location as :func:`civicgrid.cases.services.case_submit` will (both
    coordinates or none, a point inside the grid, else an address), so one submission shows
    every error at once instead of the service's location error only after the others are
    fixed; the service still checks everything again. Location errors are kept on ``lat``
    (the hidden field) and shown in the "where" fieldset.

    The category is a plain choice over :func:`~civicgrid.cases.common_problems.category_picker`
    (one query for the field, its groups, its search words and the common problems), cleaned
    to the :class:`~civicgrid.cases.models.Category`.
    """

    lat = forms.CharField(required=False, widget=forms.HiddenInput)
    lng = forms.CharField(required=False, widget=forms.HiddenInput)
    address = forms.CharField(
        label=_("Address or landmark"),
        required=False,
        max_length=200,
        help_text=_("Tap the map, or give an address if you cannot."),
    )
    category = forms.ChoiceField(
        label=_("What is the problem?"),
        widget=CategorySelect,
        error_messages={
            "required": _("Choose what the problem is."),
            "invalid_choice": _("Choose a problem from the list: that one is not on it."),
        },
    )
    description = forms.CharField(
        label=_("Description"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("What did you see, and where exactly?"),
        error_messages={"required": _("Describe the problem in a few words.")},
    )
    urgency = forms.ChoiceField(label=_("Urgency"), choices=Urgency.choices, initial="normal")
    photos = MultipleFileField(label=_("Photos"), help_text=_("Optional: photos help the team."))
    is_anonymous = forms.BooleanField(
        label=_("Do not show my name to the public"),
        required=False,
        help_text=_("Staff handling the case still see who reported it."),
    )
    submission_key = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    reporter_name = forms.CharField(label=_("Caller's name"), required=False, max_length=80)
    reporter_phone = forms.CharField(label=_("Caller's phone"), required=False, max_length=20)

    def __init__(self, *args: Any, public_only: bool = True, with_caller: bool = False, **kw: Any):
        super().__init__(*args, **kw)
        self.picker = category_picker(public_only=public_only)
        self._categories = self.picker.by_code
        field = self.fields["category"]
        assert isinstance(field, forms.ChoiceField)
        choices: list[Any] = [("", gettext("Choose a category"))]
        for group in self.picker.groups:
            options = [(leaf.code, leaf.display_name) for leaf in group.leaves]
            choices.extend(options if not group.label else [(group.label, options)])
        field.choices = choices
        widget = field.widget
        assert isinstance(widget, CategorySelect)
        widget.search_text = self.picker.search_text
        widget.plain_names = {c.code: p.display_name for p, c in self.picker.common}
        if self.is_bound:
            # The form only comes back with errors (a good one redirects).
            self.fields["photos"].help_text = PHOTOS_NOT_KEPT
        if not with_caller:
            del self.fields["reporter_name"]
            del self.fields["reporter_phone"]

    def clean_category(self) -> Category:
        return self._categories[self.cleaned_data["category"]]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "lat" in self.errors or "lng" in self.errors:
            return data
        try:
            lat, lng = validate_location(data.get("lat"), data.get("lng"))
        except CaseError as error:
            self.add_error("lat", error.message)
            return data
        if lat is None or lng is None:
            if not data.get("address") and "address" not in self.errors:
                self.add_error("lat", MARK_THE_PLACE)
        elif int(locate_many([lat], [lng])[0]) < 0:
            self.add_error(
                "lat",
                gettext(
                    "This point (%(lat).5f, %(lng).5f) is outside the area this platform serves."
                )
                % {"lat": lat, "lng": lng},
            )
        return data

    def add_location_error(self, message: str) -> None:
        """A service refusal about the place (``location``, ``lat`` or ``lng``)."""
        self.add_error("lat", message)

    @property
    def point(self) -> tuple[float | None, float | None]:
        """The point the user marked, as numbers (for the map to show it again), or none."""
        try:
            return validate_location(self["lat"].value(), self["lng"].value())
        except CaseError:
            return None, None

    @property
    def location_errors(self) -> list[str]:
        return [*self["lat"].errors, *self["lng"].errors]

    @property
    def address_describedby(self) -> str:
        """The address input's ``aria-describedby``: its help, its own error, and the location
        error of the fieldset it is in."""
        ids = [f"{self['address'].auto_id}_helptext"]
        if self["address"].errors:
            ids.append(f"{self['address'].auto_id}_error")
        if self.location_errors:
            ids.append(LOCATION_ERROR_ID)
        return " ".join(ids)

    def mark_location_errors(self) -> None:
        """Point the address input at the location error (call once the errors are known)."""
        if self.location_errors:
            self.fields["address"].widget.attrs["aria-describedby"] = self.address_describedby

    def error_summary(self, questions: QuestionsForm | None = None) -> list[SummaryError]:
        """Every error of the submission in page order, each linking to its field: the place,
        the category and its questions, then the details; errors of no field come first."""
        out = [SummaryError(str(e)) for e in self.non_field_errors()]
        if questions is not None:
            out += [SummaryError(str(e)) for e in questions.non_field_errors()]
        out += [SummaryError(str(e), LOCATION_ANCHOR) for e in self.location_errors]
        for name in ("address", "category"):
            out += [SummaryError(str(e), self[name].id_for_label) for e in self[name].errors]
        if questions is not None:
            for q in questions.questions():
                if q.field is not None:
                    target = f"{q.dom_id}_label" if q.is_multi else q.dom_id
                    out += [SummaryError(str(e), target) for e in q.field.errors]
        for name in self.fields:
            if name in ("lat", "lng", "address", "category", "submission_key"):
                continue
            bound = self[name]
            out += [SummaryError(str(e), bound.id_for_label or "") for e in bound.errors]
        return out


class DuplicatesQuery(forms.Form):
    category = forms.CharField(required=False)
    lat = forms.FloatField(required=False, min_value=-90, max_value=90)
    lng = forms.FloatField(required=False, min_value=-180, max_value=180)


DECISIONS = [("approve", _("Approve")), ("reject", _("Reject"))]


class StepForm(forms.Form):
    """Base of the step forms: ``auto_id`` is per step so many forms share one page."""

    step = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"id_{self.step}_%s")
        super().__init__(*args, **kwargs)


class NoteForm(StepForm):
    note = _note()


class PhotoNoteForm(StepForm):
    note = _note(rows=3)
    photos = MultipleFileField(label=_("Photos"))


class ReasonForm(StepForm):
    reason = _note(_("Reason"), rows=3)


class DecideForm(StepForm):
    decision = forms.ChoiceField(
        label=_("Decision"), choices=DECISIONS, widget=forms.RadioSelect, initial="approve"
    )
    note = _note()


class AcceptForm(StepForm):
    step = "accept"
    urgency = forms.ChoiceField(
        label=_("Urgency"), choices=[("", _("Keep as reported")), *Urgency.choices], required=False
    )
    note = _note()


class CancelForm(StepForm):
    step = "cancel"
    reason = forms.ChoiceField(
        label=_("Why cancel?"),
        choices=[("", _("Choose a reason")), *CancelReason.choices],
        required=False,
    )
    duplicate_of = forms.CharField(
        label=_("Duplicate of case number"), required=False, max_length=16
    )
    note = _note()


class DispatchForm(StepForm):
    step = "dispatch"
    unit = forms.ModelChoiceField(
        label=_("Unit"),
        queryset=Organization.objects.none(),
        to_field_name="code",
        required=False,
        empty_label=_("As the routing table says"),
    )
    note = _note()
    reason = _note(_("Reason (needed when sending it to a different unit)"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["unit"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = _units()


class TransferForm(StepForm):
    step = "transfer"
    unit = forms.ModelChoiceField(
        label=_("New unit"), queryset=Organization.objects.none(), to_field_name="code"
    )
    reason = _note(_("Reason"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["unit"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = _units()


class ExtensionRequestForm(StepForm):
    step = "extension_request"
    extra_hours = forms.IntegerField(
        label=_("Extra working hours"), min_value=1, max_value=360, initial=8
    )
    reason = _note(_("Reason"))


class CheckFinishForm(StepForm):
    step = "check_finish"
    result = forms.ChoiceField(
        label=_("Result"),
        choices=[("pass", _("Passed: close the case")), ("fail", _("Failed: send back"))],
        widget=forms.RadioSelect,
        initial="pass",
    )
    note = _note(_("Note (a reason is needed when the check fails)"), rows=3)
    photos = MultipleFileField(label=_("Photos"))


class RateForm(StepForm):
    step = "rate"
    satisfaction = forms.ChoiceField(
        label=_("How satisfied are you?"), choices=Satisfaction.choices
    )
    resolved = forms.BooleanField(label=_("The problem is solved"), required=False, initial=True)
    contacted = forms.BooleanField(
        label=_("Someone contacted me about it"), required=False, initial=True
    )
    comment = forms.CharField(
        label=_("Comment"), required=False, max_length=1000, widget=forms.Textarea({"rows": 2})
    )


class SelfHandleForm(StepForm):
    step = "self_handle"
    note = _note(rows=3)
    before = MultipleFileField(label=_("Photo before the fix"))
    after = MultipleFileField(label=_("Photo after the fix"))


class EmptyForm(StepForm):
    pass


def _named(base: type[StepForm], step: str) -> type[StepForm]:
    return type(f"{step.title().replace('_', '')}Form", (base,), {"step": step})


STEP_FORMS: dict[str, type[StepForm]] = {
    "accept": AcceptForm,
    "cancel": CancelForm,
    "verify": _named(PhotoNoteForm, "verify"),
    "file": _named(NoteForm, "file"),
    "dispatch": DispatchForm,
    "transfer": TransferForm,
    "return_request": _named(ReasonForm, "return_request"),
    "return_decide": _named(DecideForm, "return_decide"),
    "start": _named(NoteForm, "start"),
    "process": _named(PhotoNoteForm, "process"),
    "extension_request": ExtensionRequestForm,
    "extension_decide": _named(DecideForm, "extension_decide"),
    "hold_request": _named(ReasonForm, "hold_request"),
    "hold_decide": _named(DecideForm, "hold_decide"),
    "resume": _named(NoteForm, "resume"),
    "check_start": _named(EmptyForm, "check_start"),
    "check_finish": CheckFinishForm,
    "rate": RateForm,
    "self_handle": SelfHandleForm,
    "self_handle_review": _named(DecideForm, "self_handle_review"),
    "follow": _named(EmptyForm, "follow"),
}


# --------------------------------------------------------------------------- category questions


def _question_label(definition: AttributeDef) -> str:
    return definition.display_description or definition.code


def _question_field(definition: AttributeDef) -> forms.Field:
    """The form field for one question. Every field is optional here: the service says what is
    required or malformed (``cases.bad_attribute``), so the rule lives in one place; the form
    only parses what a browser sends (list choices, the datetime-local format)."""
    dom_id = question_dom_id(definition.code)
    attrs: dict[str, Any] = {"id": dom_id}
    if definition.display_datatype_description:
        attrs["aria-describedby"] = f"{dom_id}_helptext"
    if definition.required:
        attrs["required"] = True
        attrs["aria-required"] = "true"
    common: dict[str, Any] = {
        "label": _question_label(definition),
        "required": False,
        "help_text": definition.display_datatype_description,
    }
    choices = [(v.key, v.display_name) for v in definition.values]
    kind = definition.datatype
    if kind == "multivaluelist":
        # On a checkbox "required" would mean "tick every box"; the group's label says it.
        attrs.pop("required", None)
        attrs.pop("aria-required", None)
        return forms.MultipleChoiceField(
            choices=choices, widget=forms.CheckboxSelectMultiple(attrs=attrs), **common
        )
    if kind == "singlevaluelist":
        return forms.ChoiceField(
            choices=[("", _("Choose one")), *choices], widget=forms.Select(attrs=attrs), **common
        )
    if kind == "datetime":
        return forms.DateTimeField(
            input_formats=[DATETIME_LOCAL_FORMAT, "%Y-%m-%dT%H:%M:%S"],
            widget=forms.DateTimeInput(
                attrs={**attrs, "type": "datetime-local"}, format=DATETIME_LOCAL_FORMAT
            ),
            **common,
        )
    if kind == "number":
        return forms.CharField(
            widget=forms.NumberInput(attrs={**attrs, "step": "any"}), strip=True, **common
        )
    if kind == "text":
        return forms.CharField(widget=forms.Textarea(attrs={**attrs, "rows": 3}), **common)
    return forms.CharField(widget=forms.TextInput(attrs=attrs), **common)


def question_dom_id(code: str) -> str:
    """The HTML id of a question's input (``attribute[code]`` is the name, not a handy id)."""
    return f"id_attribute_{code}"


def attribute_field_name(code: str) -> str:
    """The POST name of a question's answer: ``attribute[<code>]`` (repeated for lists)."""
    return f"attribute[{code}]"


@dataclass(frozen=True)
class Question:
    """One line of the questions block: a field to answer, or an informational notice."""

    definition: AttributeDef
    field: BoundField | None

    @property
    def dom_id(self) -> str:
        return question_dom_id(self.definition.code)

    @property
    def is_multi(self) -> bool:
        return self.definition.datatype == "multivaluelist"


class QuestionsForm(forms.Form):
    """The category's questions (Open311 attributes) as fields named ``attribute[<code>]``."""

    def __init__(self, *args: Any, definitions: Sequence[AttributeDef] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.definitions = list(definitions)
        for definition in self.definitions:
            if definition.variable:
                name = attribute_field_name(definition.code)
                self.fields[name] = _question_field(definition)

    def questions(self) -> list[Question]:
        # A question with an error points at it too (its attrs were fixed when it was made).
        for definition in self.definitions:
            name = attribute_field_name(definition.code)
            if name in self.fields and self.is_bound and self[name].errors:
                dom_id = question_dom_id(definition.code)
                attrs = self.fields[name].widget.attrs
                described = [f"{dom_id}_helptext"] if attrs.get("aria-describedby") else []
                attrs["aria-describedby"] = " ".join([*described, f"{dom_id}_error"])
        return [
            Question(d, self[attribute_field_name(d.code)] if d.variable else None)
            for d in self.definitions
        ]

    def answers(self) -> dict[str, Any]:
        """The cleaned answers in the service's terms: datetimes as W3C strings in the local
        zone, lists as lists of keys, the rest as the text typed."""
        out: dict[str, Any] = {}
        for definition in self.definitions:
            if not definition.variable:
                continue
            value = self.cleaned_data.get(attribute_field_name(definition.code))
            if isinstance(value, dt.datetime):
                value = format_w3_datetime(value)
            out[definition.code] = value if value is not None else ""
        return out

    def field_for(self, code: str) -> str | None:
        name = attribute_field_name(code)
        return name if name in self.fields else None


# --------------------------------------------------------------------------- Open311 API keys


class ClientKeyIssueForm(forms.Form):
    """Issue an Open311 key to an existing client organization or to a new one.

    The key name and the rate are checked by ``client_key_issue`` and the new organization by
    ``organization_create_client``: their errors come back next to these fields.
    """

    organization = forms.ModelChoiceField(
        label=_("Client organization"),
        queryset=Organization.objects.none(),
        to_field_name="code",
        required=False,
        empty_label=_("A new client organization (below)"),
    )
    new_code = forms.CharField(
        label=_("Code of the new organization"),
        required=False,
        max_length=40,
        help_text=_("Lower-case letters, digits, '-' and '_', e.g. city-app."),
    )
    new_name = forms.CharField(label=_("Name of the new organization"), required=False)
    new_name_en = forms.CharField(label=_("Name in English (optional)"), required=False)
    name = forms.CharField(
        label=_("Key name"),
        required=False,
        help_text=_("What the key is for, e.g. 'iOS app' or 'hotline bridge'."),
    )
    rate_per_minute = forms.IntegerField(
        label=_("Requests per minute"),
        initial=60,
        widget=forms.NumberInput(attrs={"min": 1, "max": CLIENT_KEY_RATE_MAX}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["organization"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = client_organization_list()
        # Interpolated here, in the request's language (a lazy string would be formatted once).
        self.fields["rate_per_minute"].help_text = gettext(
            "From 1 to %(max)s; more requests in a minute are refused with 429."
        ) % {"max": CLIENT_KEY_RATE_MAX}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        new = bool((data.get("new_code") or "").strip() or (data.get("new_name") or "").strip())
        if data.get("organization") is not None and new:
            self.add_error(
                "organization",
                _("Choose an existing organization or describe a new one, not both."),
            )
        elif data.get("organization") is None and not new and "organization" not in self.errors:
            self.add_error(
                "organization",
                _("Choose a client organization, or give the code and name of a new one."),
            )
        return data
