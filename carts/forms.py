"""The cart form, built from the kind's declared fields, in the sections staff expect."""

from __future__ import annotations

from typing import Any

from django import forms

from cartrover.forms import credentials_merged, declared_field
from cartrover.tenancy import Tenant
from carts.adapters import CART_KINDS
from carts.models import CartConnection
from sync.flows import Flow, interval_choices
from wms.adapters import WMS_KINDS
from wms.models import Warehouse, WmsConfig

LOAD_OPTIONS = [
    "reject_unmapped_ship_codes",
    "earliest_order_date",
    "inventory_warehouse",
    "inventory_alias_type",
    "inventory_min_level",
]
SERVICES = {
    "download_interval": Flow.DOWNLOAD,
    "shipment_upload_interval": Flow.SHIPMENT_UPLOAD,
    "inventory_upload_interval": Flow.INVENTORY_UPLOAD,
}


class CartForm(forms.ModelForm):
    """Create or edit a cart; credentials, setup and WMS fields come from the kinds."""

    class Meta:
        model = CartConnection
        fields = ["order_source", "description", *LOAD_OPTIONS, *SERVICES]
        widgets = {"earliest_order_date": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args: Any, kind: str, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.adapter_class = CART_KINDS.adapter_class(kind)
        editing = self.instance.pk is not None
        self.credential_names, self.setup_names, self.wms_names = [], [], []
        for spec in self.adapter_class.credential_fields:
            name = f"cred_{spec.name}"
            self.fields[name] = declared_field(spec, keep_secret=editing and spec.secret)
            self.credential_names.append(name)
        for spec in self.adapter_class.setup_fields:
            name = f"setup_{spec.name}"
            self.fields[name] = declared_field(spec)
            if editing:
                self.fields[name].initial = self.instance.setup.get(spec.name, spec.default)
            self.setup_names.append(name)
        if editing:
            for spec in self.adapter_class.credential_fields:
                if not spec.secret:
                    self.fields[f"cred_{spec.name}"].initial = self.instance.credentials.get(
                        spec.name, ""
                    )
        config = WmsConfig.objects.visible_to(tenant).first()
        if config is not None:
            try:
                wms_fields = WMS_KINDS.adapter_class(config.kind).cart_fields
            except Exception:  # an uninstalled kind: no WMS fields to show
                wms_fields = []
            for spec in wms_fields:
                name = f"wms_{spec.name}"
                self.fields[name] = declared_field(spec)
                self.fields[name].initial = self.instance.wms_settings.get(spec.name, spec.default)
                self.wms_names.append(name)
        self.fields["inventory_warehouse"].queryset = Warehouse.objects.visible_to(tenant)
        for name, flow in SERVICES.items():
            self.fields[name] = forms.TypedChoiceField(
                label=Flow(flow).label,
                choices=interval_choices(flow),
                coerce=int,
                initial=getattr(self.instance, name),
            )

    def sections(self) -> list[tuple[str, list[Any]]]:
        """Return the form's fields grouped as the cart screens show them."""

        def pick(names: list[str]) -> list[Any]:
            return [self[n] for n in names if n in self.fields]

        return [
            ("Client", pick(["order_source", "description"])),
            ("API information", pick(self.credential_names)),
            ("Cart setup", pick(self.setup_names)),
            ("Order load options", pick(LOAD_OPTIONS)),
            ("WMS settings", pick(self.wms_names)),
            ("Services", pick(list(SERVICES))),
        ]

    def save(self, commit: bool = True) -> CartConnection:
        cart: CartConnection = super().save(commit=False)
        cart.kind = self.kind
        cart.credentials = credentials_merged(
            self.adapter_class.credential_fields, self.cleaned_data, "cred_", cart.credentials
        )
        cart.setup = {
            spec.name: self.cleaned_data.get(f"setup_{spec.name}")
            for spec in self.adapter_class.setup_fields
        }
        cart.wms_settings = {n[4:]: self.cleaned_data.get(n) for n in self.wms_names}
        if commit:
            cart.save()
        return cart
