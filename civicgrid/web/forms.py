"""Forms of the case pages. They parse input only; the services decide what is allowed.

Text fields the services require (notes, reasons) are optional here on purpose: the service's
error, with its field name, is shown next to the field, so the rule lives in one place.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from civicgrid.accounts.models import Organization, OrganizationKind
from civicgrid.cases.models import CancelReason, Category, Satisfaction, Urgency
from civicgrid.cases.selectors import leaf_categories


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


class CategoryChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Category) -> str:
        parent = obj.parent.display_name if obj.parent_id and obj.parent else ""
        return f"{parent} / {obj.display_name}" if parent else obj.display_name


class ReportForm(forms.Form):
    category = CategoryChoiceField(
        label=_("What is the problem?"),
        queryset=Category.objects.none(),
        to_field_name="code",
        empty_label=_("Choose a category"),
    )
    description = forms.CharField(
        label=_("Description"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("What did you see, and where exactly?"),
    )
    lat = forms.CharField(required=False, widget=forms.HiddenInput)
    lng = forms.CharField(required=False, widget=forms.HiddenInput)
    address = forms.CharField(
        label=_("Address or landmark"),
        required=False,
        max_length=200,
        help_text=_("Click the map, or give an address if you cannot."),
    )
    urgency = forms.ChoiceField(label=_("Urgency"), choices=Urgency.choices, initial="normal")
    photos = MultipleFileField(label=_("Photos"))
    is_anonymous = forms.BooleanField(
        label=_("Do not show my name to the public"),
        required=False,
        help_text=_("Staff handling the case still see who reported it."),
    )
    submission_key = forms.CharField(required=False, max_length=80, widget=forms.HiddenInput)
    reporter_name = forms.CharField(label=_("Caller's name"), required=False, max_length=80)
    reporter_phone = forms.CharField(label=_("Caller's phone"), required=False, max_length=20)

    def __init__(self, *args: Any, public_only: bool = True, with_caller: bool = False, **kw: Any):
        super().__init__(*args, **kw)
        field = self.fields["category"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = leaf_categories(public_only=public_only)
        if not with_caller:
            del self.fields["reporter_name"]
            del self.fields["reporter_phone"]


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
