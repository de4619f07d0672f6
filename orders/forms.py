"""Forms of the order screens."""

from __future__ import annotations

from django import forms

from cartrover.tenancy import Tenant
from carts.models import CartConnection
from merchants.models import Merchant
from orders.models import OrderStatus
from orders.selectors import OrderFilters

STATUS_CHOICES = [
    ("", "Any status"),
    ("open", "New or at WMS"),
    ("done", "Shipped or confirmed"),
    ("attention", "Held or error"),
    *OrderStatus.choices,
]


class OrderFilterForm(forms.Form):
    """Filter the order list; every field may stay empty."""

    q = forms.CharField(
        required=False,
        label="Search",
        widget=forms.TextInput(attrs={"placeholder": "Order number, email or SKU"}),
    )
    status = forms.ChoiceField(required=False, choices=STATUS_CHOICES)
    merchant = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    cart = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    placed_from = forms.DateField(
        required=False, label="Placed from", widget=forms.DateInput(attrs={"type": "date"})
    )
    placed_to = forms.DateField(
        required=False, label="Placed to", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: object, tenant: Tenant, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        merchants = Merchant.objects.visible_to(tenant).values_list("pk", "name")
        carts = CartConnection.objects.visible_to(tenant).values_list("pk", "order_source")
        self.fields["merchant"].choices = [("", "Any merchant"), *merchants]
        self.fields["cart"].choices = [("", "Any cart"), *carts]
        if tenant.is_merchant_user:
            del self.fields["merchant"]

    def filters(self) -> OrderFilters:
        """Return the valid filters (invalid ones are ignored, and shown as errors)."""
        data = self.cleaned_data if self.is_valid() else {}
        return OrderFilters(
            merchant=data.get("merchant"),
            cart=data.get("cart"),
            status=data.get("status") or "",
            placed_from=data.get("placed_from"),
            placed_to=data.get("placed_to"),
            q=data.get("q") or "",
        )
