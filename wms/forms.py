"""Forms of the WMS setup screen, built from the WMS kind's declared fields."""

from __future__ import annotations

from typing import Any

from django import forms

from cartrover.forms import credentials_merged, declared_field
from wms.adapters import WMS_KINDS
from wms.models import Warehouse, WmsConfig, WmsShipMethod


class WmsConfigForm(forms.Form):
    """The WMS's kind-specific settings and credentials (secrets kept when left blank)."""

    def __init__(self, *args: Any, config: WmsConfig, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config = config
        self.adapter_class = WMS_KINDS.adapter_class(config.kind)
        editing = config.pk is not None
        for spec in self.adapter_class.credential_fields:
            field = declared_field(spec, keep_secret=editing and spec.secret)
            if not spec.secret:
                field.initial = config.credentials.get(spec.name, spec.default)
            self.fields[f"cred_{spec.name}"] = field
        for spec in self.adapter_class.settings_fields:
            field = declared_field(spec)
            field.initial = config.settings.get(spec.name, spec.default)
            self.fields[f"set_{spec.name}"] = field

    def sections(self) -> list[tuple[str, list[Any]]]:
        return [
            ("API information", [self[n] for n in self.fields if n.startswith("cred_")]),
            ("Settings", [self[n] for n in self.fields if n.startswith("set_")]),
        ]

    def save(self) -> WmsConfig:
        self.config.credentials = credentials_merged(
            self.adapter_class.credential_fields,
            self.cleaned_data,
            "cred_",
            self.config.credentials,
        )
        self.config.settings = {
            spec.name: self.cleaned_data.get(f"set_{spec.name}")
            for spec in self.adapter_class.settings_fields
        }
        self.config.save()
        return self.config


class ShipMethodForm(forms.ModelForm):
    class Meta:
        model = WmsShipMethod
        fields = ["code", "description", "carrier"]


class WarehouseForm(forms.ModelForm):
    class Meta:
        model = Warehouse
        fields = ["code", "name"]
