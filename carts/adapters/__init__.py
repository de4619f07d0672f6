"""Cart kinds: kind -> (label, dotted path of the adapter class).

Third-party packages add kinds through the `cartrover.carts` entry-point group.
"""

from cartrover.adapters import Registry

CART_KINDS = Registry(
    {
        "dummy": ("Sandbox store", "carts.adapters.dummy.adapter.DummyCartAdapter"),
        "api": ("API (orders pushed to the hub)", "api.cart_kind.ApiCartAdapter"),
        "csv_file": ("CSV files", "carts.adapters.csv_file.adapter.CsvFileCartAdapter"),
        "shopify": ("Shopify", "carts.adapters.shopify.adapter.ShopifyAdapter"),
        "woocommerce": ("WooCommerce", "carts.adapters.woocommerce.adapter.WooCommerceAdapter"),
        "bigcommerce": ("BigCommerce", "carts.adapters.bigcommerce.adapter.BigCommerceAdapter"),
    },
    entry_point_group="cartrover.carts",
)
