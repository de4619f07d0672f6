"""Cart kinds: kind -> (label, dotted path of the adapter class).

Third-party packages add kinds through the `cartrover.carts` entry-point group.
"""

from cartrover.adapters import Registry

CART_KINDS = Registry(
    {
        "dummy": ("Sandbox store", "carts.adapters.dummy.adapter.DummyCartAdapter"),
    },
    entry_point_group="cartrover.carts",
)
