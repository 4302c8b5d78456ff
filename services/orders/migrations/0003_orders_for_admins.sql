-- Admins list every customer's orders, newest first, or only those in one status (the
-- ones still PENDING: checkouts in flight or stuck). Customers' own lists keep
-- order_summaries_customer_idx.
CREATE INDEX order_summaries_placed_idx ON order_summaries (placed_at DESC, order_id DESC);
CREATE INDEX order_summaries_status_idx ON order_summaries (status, placed_at DESC, order_id DESC);
