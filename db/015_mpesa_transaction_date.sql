-- lipa schema, version 15: when M-Pesa says the payment was made. The
-- callback's TransactionDate (20191219102115, Nairobi time) as an instant:
-- milliseconds since the epoch, UTC, like every other time here; 0 when
-- M-Pesa gave none (a failed or cancelled payment, one settled by STK
-- query, a Paystack payment, and every payment stored before).
ALTER TABLE payments ADD COLUMN transaction_at INTEGER NOT NULL DEFAULT 0;
