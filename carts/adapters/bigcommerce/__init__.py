"""BigCommerce: V2 orders and shipments, V3 inventory and webhooks."""
