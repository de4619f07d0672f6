"""WooCommerce (REST API v3, `/wp-json/wc/v3`): orders, tracking, stock and webhooks."""
